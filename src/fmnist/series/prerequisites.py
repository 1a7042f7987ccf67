"""Which notebooks each notebook builds on, and running them first where that is cheap.

A reader may open any notebook alone (Colab gives each one a fresh folder). In the ``full`` profile
the repository's committed artefacts (``results/full.json``, ``models/full/``) are what later
notebooks build on. Where the active profile lacks them, the smoke profile runs the missing
notebooks first, saying so in one line; any other profile stops with one line that names them and
the command that works where the reader is.
"""

from __future__ import annotations

import os
import sys
import time

from fmnist import paths
from fmnist.learn import registry
from fmnist.errors import PrerequisiteError
from fmnist.series import runner

# What each notebook reads of earlier ones: their results records, and for 06 their saved models.
BUILDS_ON: dict[str, tuple[str, ...]] = {
    "02_low_capacity_convnet": ("01_baseline",),
    "03_overfit": ("02_low_capacity_convnet",),
    "04_regularisation": ("03_overfit",),
    "06_final_evaluation": ("01_baseline", "02_low_capacity_convnet", "03_overfit",
                            "04_regularisation", "05_transfer_learning"),
}


def needed(stage: str) -> list[str]:
    """Every notebook `stage` builds on, directly or through another, in series order."""
    found: set[str] = set()
    todo = list(BUILDS_ON.get(stage, ()))
    while todo:
        earlier = todo.pop()
        if earlier not in found:
            found.add(earlier)
            todo += BUILDS_ON.get(earlier, ())
    return sorted(found)


def has_run(stage: str, profile: str) -> bool:
    """Whether `stage` left what later notebooks read: a validation record and its saved model."""
    records = registry.read(profile)["records"]
    recorded = any(r["stage"] == stage and r["split"] != "test" for r in records)
    return recorded and (paths.models_dir(profile) / f"{stage}.keras").is_file()


def missing(stage: str, profile: str) -> list[str]:
    """The notebooks `stage` builds on that have not run in `profile` here."""
    return [earlier for earlier in needed(stage) if not has_run(earlier, profile)]


def run_command(stages: list[str], profile: str) -> str:
    """The command that runs `stages` where the reader is: a Colab cell, or a shell."""
    numbers = " ".join(s[:2] for s in stages)
    if "google.colab" in sys.modules:
        return f"`!fmnist run --profile {profile} --only {numbers}` in a cell"
    return f"`fmnist run --profile {profile} --only {numbers}` (or `make run PROFILE={profile} ONLY=\"{numbers}\"`)"


def ensure(stage: str, profile: str) -> list[str]:
    """Make sure what `stage` builds on exists; return the notebooks run for it (smoke only)."""
    absent = missing(stage, profile)
    if not absent:
        return []
    names = ", ".join(absent)
    if profile != "smoke":
        raise PrerequisiteError(
            f"{stage} builds on {names}, which the {profile} profile has not run here yet. "
            f"Run {'it' if len(absent) == 1 else 'them'} first: {run_command(absent, profile)}.")
    print(f"{stage} builds on {names}: running {'it' if len(absent) == 1 else 'them'} first in the smoke profile.")
    start = time.perf_counter()
    with open(os.devnull, "w") as quiet:  # the one line above says what happens; no progress bars stored
        runner.run(profile, only=absent, stream=quiet)
    print(f"Ran {names} in {time.perf_counter() - start:.0f} s (executed copies in runs/smoke/).")
    return absent
