"""What a notebook needs where its reader opened it: Colab's missing packages, the right profile.

Colab has TensorFlow, Keras and most of the scientific stack; the setup cell has already fetched the
repository and put its ``src/`` on ``sys.path``. `install_package()` installs that clone itself,
editable and without dependencies, so that ``!fmnist ...`` works in a cell; `install_missing()`
installs only the dependencies the runtime does not have at all (keras-tuner, for one), so Colab's
own TensorFlow and Keras are never replaced. Both run pip quietly: its output is shown only when it
fails, and never its "new release of pip" notice. `profile_advice()` tells a reader on a CPU-only
runtime what the full profile costs there before any long cell runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from fmnist import paths
from fmnist.errors import FmnistError
from fmnist.learn import registry


def in_colab() -> bool:
    return "google.colab" in sys.modules


def requirements() -> list[str]:
    """This package's own dependencies (not its extras), as requirement strings: from the clone's
    pyproject.toml, else from the installed package's metadata."""
    pyproject = paths.repo_root() / "pyproject.toml"
    if pyproject.is_file():
        return list(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"])
    try:
        listed = metadata.requires("fmnist") or []
    except metadata.PackageNotFoundError:
        return []
    return [r for r in listed if "extra ==" not in r]


def pip_environment() -> dict[str, str]:
    """The environment pip runs in here: no "A new release of pip is available" notice in a cell."""
    return {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _pip(arguments: list[str], what: str, installer) -> None:
    """Run ``pip install -q ARGUMENTS`` quietly; `FmnistError` in one line, with pip's last line, if it fails."""
    done = installer([sys.executable, "-m", "pip", "install", "-q", *arguments], capture_output=True, text=True,
                     env=pip_environment())
    if done.returncode:
        lines = (done.stderr or done.stdout or "").strip().splitlines() or ["no message"]
        said = [line.strip() for line in lines if line.strip().lower().startswith("error:")] or lines
        raise FmnistError(f"Could not install {what} ({said[-1]}). Check the runtime's internet connection, "
                          f"then run the setup cell again.")


def installed_from(root: Path) -> bool:
    """Whether the installed `fmnist` distribution is an install of the folder `root` (pip's direct_url.json)."""
    try:
        direct = json.loads(metadata.distribution("fmnist").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return direct.get("url") == Path(root).resolve().as_uri()


def install_package(root: Path | None = None, installer=subprocess.run) -> bool:
    """pip-install the repository at `root` (the clone) editable, without dependencies; False if it already is.

    With the runtime's own setuptools when it meets the build requirement, so nothing is downloaded;
    otherwise (Colab's 75.2 is older than the 77 that `license = "MIT"` needs) pip fetches a newer one.
    """
    root = Path(root or paths.repo_root()).resolve()
    if installed_from(root):
        return False
    isolation = ["--no-build-isolation"] if _builds_here(root) else []  # else pip fetches setuptools to build
    _pip(["--no-deps", *isolation, "-e", str(root)], f"this package from {root}", installer)
    return True


def _release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def _builds_here(root: Path) -> bool:
    """Whether the runtime's own setuptools meets the build requirement of `root`'s pyproject.toml."""
    try:
        requires = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]["requires"]
        floor = re.fullmatch(r"setuptools\s*>=\s*([\d.]+)", requires[0].strip()).group(1)
        have = metadata.version("setuptools")
    except (OSError, KeyError, IndexError, AttributeError, ValueError, metadata.PackageNotFoundError):
        return False
    return len(requires) == 1 and _release(have) >= _release(floor)


def _distribution(requirement: str) -> str:
    return re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement).group(1)


def absent(wanted: list[str] | None = None) -> list[str]:
    """The requirements whose distribution is not installed at all (any installed version counts)."""
    gone = []
    for requirement in requirements() if wanted is None else wanted:
        try:
            metadata.version(_distribution(requirement))
        except metadata.PackageNotFoundError:
            gone.append(requirement)
    return gone


def install_missing(wanted: list[str] | None = None, installer=subprocess.run) -> list[str]:
    """pip-install the requirements that are not installed; return them. Installed ones stay as they are."""
    gone = absent(wanted)
    if not gone:
        return []
    names = ", ".join(_distribution(r) for r in gone)
    print(f"Installing what this runtime lacks: {names} (installed packages are left as they are).")
    _pip(gone, names, installer)
    return gone


def last_run(stage: str, profile: str = "full") -> dict | None:
    """The last successful recorded run of `stage` in `profile` (seconds, device), if any."""
    runs = [r for r in registry.read(profile)["runs"] if r["stage"] == stage and r.get("status") == "ok"]
    return runs[-1] if runs else None


def profile_advice(stage: str, profile: str, device: str, threshold_s: float = 300) -> str | None:
    """A line for a reader about to run a long full-profile notebook without a GPU, else None."""
    if profile != "full" or device.startswith("GPU"):
        return None
    full = last_run(stage, "full")
    if full is None or full["seconds"] < threshold_s:
        return None
    small = last_run(stage, "small")
    small_time = f", small took {small['seconds'] / 60:.0f} min" if small else ""
    colab = "; on Colab, Runtime > Change runtime type > GPU" if in_colab() else ""
    return (f"No GPU here: this notebook's full profile took {full['seconds'] / 60:.0f} min when last recorded "
            f"on {full.get('device') or 'a CPU'}{small_time}. For a quicker run set PROFILE = \"small\" or "
            f"\"smoke\" (seconds; exercises the code) in the setup cell{colab}.")
