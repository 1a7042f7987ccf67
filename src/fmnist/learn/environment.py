"""The environment a result was produced in: backend, device, machine, code and library versions.

Every registry record carries `describe()`: the backend and device, the versions of every
library of the series that the process had imported when the result was recorded, and the
provenance a reviewer needs to reproduce it (git commit and whether the code was modified,
CPU model and core count, GPU, operating system, Python). Determinism holds per machine only:
the same seeds give slightly different numbers on another CPU, so the machine is part of a result.
Outside a git checkout (Colab, a pip install) the commit is the one pip recorded, else "unknown".
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy

from fmnist.version import __version__

# Distributions whose versions can change the numbers, with the module that shows they were used.
LIBRARIES = {
    "keras": "keras", "numpy": "numpy", "tensorflow": "tensorflow", "jax": "jax", "jaxlib": "jaxlib",
    "torch": "torch", "scipy": "scipy", "scikit-learn": "sklearn", "pandas": "pandas",
    "keras-tuner": "keras_tuner", "matplotlib": "matplotlib", "seaborn": "seaborn", "h5py": "h5py",
    "pillow": "PIL", "tensorboard": "tensorboard", "ml-dtypes": "ml_dtypes",
}
# Paths whose changes do not change how a result is computed (outputs the series writes itself).
# what `make run` writes; tests/data/model_probes.json is its record of what the committed models predict
_OUTPUTS = ("results", "models", "figures", "runs", "cache", "logs", "README.md", "tests/data/model_probes.json")


def backend() -> str:
    """The Keras backend in use (imports keras, so set KERAS_BACKEND before calling)."""
    import keras  # here, not at the top: importing this module must leave the backend unchosen

    return keras.backend.backend()


@lru_cache(maxsize=None)
def device() -> str:
    """'GPU (<name>)' when the backend sees an accelerator, else 'CPU (<n> cores)'."""
    name = backend()
    gpu = None
    try:
        if name == "tensorflow":
            import tensorflow as tf  # only the backend in use is installed

            gpus = tf.config.list_physical_devices("GPU")
            gpu = gpus[0].name if gpus else None
        elif name == "jax":
            import jax  # likewise

            first = jax.devices()[0]
            gpu = first.device_kind if first.platform != "cpu" else None
        elif name == "torch":
            import torch  # likewise

            gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # a broken accelerator stack still lets us report the CPU
        gpu = None
    return f"GPU ({gpu})" if gpu else f"CPU ({os.cpu_count()} cores)"


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries the numbers depend on."""
    import keras  # after the backend was chosen, as in backend()

    found = {"python": platform.python_version(), "fmnist": __version__,
             "keras": keras.__version__, "numpy": numpy.__version__}
    name = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(name)
    if module:
        found[module] = getattr(sys.modules.get(module) or __import__(module), "__version__", "?")
    return found


def imported_versions() -> dict[str, str]:
    """`versions()` plus every library of `LIBRARIES` this process has imported so far."""
    found = versions()
    for distribution, module in LIBRARIES.items():
        if module in sys.modules and distribution not in found:
            try:
                found[distribution] = metadata.version(distribution)
            except metadata.PackageNotFoundError:
                found[distribution] = str(getattr(sys.modules[module], "__version__", "unknown"))
    return found


def _git(*args: str, folder: Path) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):  # no git at all (Colab images, slim containers)
        return None
    return done.stdout.rstrip() if done.returncode == 0 else None


def _pip_commit() -> str | None:
    """The commit pip recorded when the package was installed from a git URL (Colab), if any."""
    try:
        text = metadata.distribution("fmnist").read_text("direct_url.json")
        return (json.loads(text or "{}").get("vcs_info") or {}).get("commit_id")
    except (metadata.PackageNotFoundError, ValueError, AttributeError):
        return None


def _notebook_sources(text: str | None) -> list | None:
    """The cells' types and sources of a notebook's JSON text: what it runs and says, not what it printed."""
    try:
        return [(c.get("cell_type"), "".join(c.get("source", ""))) for c in json.loads(text or "")["cells"]]
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _only_outputs_differ(top: Path, relative: str) -> bool:
    """Whether a modified notebook differs from the commit in its outputs only (a run executed it in place)."""
    if not relative.endswith(".ipynb"):
        return False
    try:
        current = (top / relative).read_text(encoding="utf-8")
    except OSError:
        return False
    committed = _notebook_sources(_git("show", f"HEAD:{relative}", folder=top))
    return committed is not None and committed == _notebook_sources(current)


def code_version(package_dir: Path | None = None) -> dict[str, object]:
    """{"commit": sha or "unknown", "dirty": bool or None, "changed": up to 10 modified files}.

    The commit of the checkout the imported `fmnist` package lives in; "dirty" when tracked files
    other than the series' own outputs (results, models, figures, README) differ from it; a notebook
    whose cells are the committed ones and only its outputs differ (executed in place) is not a change.
    """
    package_dir = Path(package_dir or Path(__file__).resolve().parents[1])  # fmnist/, not fmnist/learn/
    top = _git("rev-parse", "--show-toplevel", folder=package_dir)
    commit = _git("rev-parse", "HEAD", folder=package_dir) if top else None
    if not commit or not (Path(top) / "src" / package_dir.name).resolve() == package_dir.resolve():
        return {"commit": _pip_commit() or "unknown", "dirty": None, "changed": []}
    status = _git("status", "--porcelain", "--untracked-files=no", "--", ".",
                  *[f":(exclude){p}" for p in _OUTPUTS], folder=Path(top))
    changed = [line[3:] for line in (status or "").splitlines()
               if line.strip() and not _only_outputs_differ(Path(top), line[3:])]
    return {"commit": commit, "dirty": bool(changed) if status is not None else None, "changed": changed[:10]}


@lru_cache(maxsize=None)
def cpu() -> str:
    """The CPU model as the operating system names it, or the architecture if it does not."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    if sys.platform == "darwin":
        try:
            name = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                  timeout=10).stdout.strip()
            if name:
                return name
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def gpu() -> str | None:
    """The accelerator's name as the backend reports it, or None on a CPU."""
    found = device()
    return found[len("GPU ("):-1] if found.startswith("GPU (") else None


def provenance() -> dict[str, object]:
    """Code version, machine and interpreter: what a result needs to be reproduced."""
    return {**code_version(), "cpu": cpu(), "cpu_cores": os.cpu_count(), "gpu": gpu(),
            "os": platform.platform(), "python": platform.python_version()}


def describe() -> dict[str, object]:
    """Backend, device, imported library versions and provenance, as recorded with every result."""
    return {"backend": backend(), "device": device(), "versions": imported_versions(), "provenance": provenance()}


def provenance_rows(records: list[dict]) -> list[dict]:
    """One row per record: where, on what and with which code and libraries it was produced.

    Records written before provenance was recorded show "not recorded" rather than a guess.
    """
    out = []
    for r in records:
        where = r.get("provenance") or {}
        commit = where.get("commit", "not recorded")
        dirty = where.get("dirty")
        versions = r.get("versions") or {}
        out.append({
            "stage": r["stage"], "model": r["model"], "split": r["split"], "time": r.get("time", ""),
            "commit": (commit[:10] if commit not in ("unknown", "not recorded") else commit)
                      + (" (modified)" if dirty else ""),
            "cpu": f"{where['cpu']} x{where.get('cpu_cores')}" if "cpu" in where else "not recorded",
            "gpu": where.get("gpu") or ("none" if where else "not recorded"),
            "os": where.get("os", "not recorded"),
            "backend": r.get("backend", ""),
            "libraries": ", ".join(f"{k} {v}" for k, v in versions.items()),
        })
    return out


def provenance_text(data: dict) -> str:
    """`provenance_rows` of a registry as one block per record (the rows are too wide for a table)."""
    rows = provenance_rows(data.get("records", []))
    if not rows:
        return "No results recorded yet.\n"
    blocks = []
    for row in rows:
        head = f"{row.pop('stage')} / {row.pop('model')} / {row.pop('split')}"
        blocks.append("\n".join([head] + [f"  {key:<10} {value}" for key, value in row.items()]))
    return "\n\n".join(blocks) + "\n"
