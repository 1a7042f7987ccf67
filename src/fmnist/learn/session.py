"""The notebook session: which stage is running, in which profile, on what machine.

`fmnist.setup(stage)` (in `fmnist.series.opening`) starts it once per notebook; figures, models and
results then know where they belong without being told again.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from fmnist.errors import FmnistError
from fmnist.learn import compile_cache, environment
from fmnist.learn.profiles import Profile, get_profile
from fmnist.learn.repro import seed_everything

_current: "Session | None" = None


@dataclass(frozen=True)
class Session:
    """What `start()` established: the stage (notebook name), profile, backend and device."""

    stage: str
    profile: Profile
    backend: str
    device: str
    started: float = field(default_factory=time.perf_counter, compare=False)

    def elapsed(self) -> str:
        """The line a notebook prints at its end: how long it ran, where, in which profile."""
        minutes = (time.perf_counter() - self.started) / 60
        return f"{self.stage} ran for {minutes:.1f} min ({self.profile.name} profile, {self.backend} on {self.device})"


def start(stage: str, seed: int = 0, profile: str | None = None) -> Session:
    """Make `stage` the running notebook in `profile` (``$FMNIST_PROFILE`` when None) and seed everything.

    On JAX it also turns on the persistent compilation cache (`fmnist.learn.compile_cache`).

    The chosen profile is written back to ``$FMNIST_PROFILE``, so every later call, and any notebook
    run from this one, uses the same profile.
    """
    global _current
    chosen = get_profile(profile)
    os.environ["FMNIST_PROFILE"] = chosen.name
    compile_cache.enable(environment.backend())  # before anything compiles
    seed_everything(seed)
    _current = Session(stage, chosen, environment.backend(), environment.device())
    return _current


def current() -> Session:
    """The session of the running notebook; an error if `setup()` was not called."""
    if _current is None:
        raise FmnistError("No notebook session: call fmnist.setup('<stage name>') in the setup cell first.")
    return _current
