"""Where things live: the repository root and each profile's output folders.

Every profile writes to its own places, so a smoke run never overwrites the
results of a full one:

- ``figures/<profile>/<stage>/``   figures of a notebook
- ``models/<profile>/<stage>*.keras`` saved models
- ``results/<profile>.json``        the results registry
- ``logs/<profile>/<stage>/``       TensorBoard logs
- ``runs/<profile>/``               notebooks executed in a profile other than ``full``
- ``cache/<profile>/``              derived data that can be recomputed (ImageNet features)
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


def repo_root() -> Path:
    """The repository: ``$FMNIST_HOME``, else the nearest folder up from here holding ``notebooks/``
    and ``pyproject.toml``, else the current folder (for example in Colab)."""
    if os.environ.get("FMNIST_HOME"):
        return Path(os.environ["FMNIST_HOME"]).expanduser().resolve()
    for start in (Path.cwd(), Path(__file__).resolve().parent):
        for folder in (start, *start.parents):
            if (folder / "pyproject.toml").is_file() and (folder / "notebooks").is_dir():
                return folder
    return Path.cwd()


def figures_dir(profile: str, stage: str) -> Path:
    return repo_root() / "figures" / profile / stage


def models_dir(profile: str) -> Path:
    return repo_root() / "models" / profile


def results_file(profile: str) -> Path:
    return repo_root() / "results" / f"{profile}.json"


def logs_dir(profile: str, stage: str) -> Path:
    return repo_root() / "logs" / profile / stage


def runs_dir(profile: str) -> Path:
    return repo_root() / "runs" / profile


def cache_dir(profile: str) -> Path:
    return repo_root() / "cache" / profile


TEMP_PREFIX = ".tmp-"  # names of atomic writes' temporary files: git and pytest ignore them


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextmanager
def atomic_path(target: Path | str):
    """Yield a temporary path beside `target`; move it over `target` only if the block succeeds.

    A crash or an interrupted run leaves the previous file intact instead of half a file, and the
    temporary file is removed on any exception, KeyboardInterrupt and SystemExit included (the
    runner turns SIGTERM into one). Only a hard kill can leave it behind: its name starts with
    TEMP_PREFIX, which .gitignore and pytest's collection ignore.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=target.parent, prefix=f"{TEMP_PREFIX}{target.stem}.", suffix=target.suffix)
    try:
        os.close(handle)
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text_atomic(target: Path | str, text: str) -> Path:
    """Write `text` to `target` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)
