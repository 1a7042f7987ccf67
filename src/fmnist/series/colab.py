"""What a notebook needs where its reader opened it: Colab's missing packages, the right profile.

Colab has TensorFlow, Keras and most of the scientific stack; the setup cell has already fetched the
repository and installed this package without dependencies. `install_missing()` installs only the
dependencies the runtime does not have at all (keras-tuner, for one), so Colab's own TensorFlow and
Keras are never replaced. `profile_advice()` tells a reader on a CPU-only runtime what the full
profile costs there before any long cell runs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata

from fmnist.errors import FmnistError


def in_colab() -> bool:
    return "google.colab" in sys.modules


def requirements() -> list[str]:
    """This package's own dependencies (not its extras), as requirement strings."""
    try:
        listed = metadata.requires("fmnist") or []
    except metadata.PackageNotFoundError:
        return []
    return [r for r in listed if "extra ==" not in r]


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
    done = installer([sys.executable, "-m", "pip", "install", "-q", *gone], capture_output=True, text=True)
    if done.returncode:
        last = (done.stderr or done.stdout or "").strip().splitlines()[-1:] or ["no message"]
        raise FmnistError(f"Could not install {names} ({last[0]}). Check the runtime's internet connection, "
                          f"then run the setup cell again.")
    return gone


def last_run(stage: str, profile: str = "full") -> dict | None:
    """The last successful recorded run of `stage` in `profile` (seconds, device), if any."""
    from fmnist.learn import registry

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
