"""The notebook session: which stage is running, in which profile, on what machine.

Every notebook's setup cell calls `setup(stage)` once; figures, models and results
then know where they belong without being told again.
"""

from __future__ import annotations

from dataclasses import dataclass

from fmnist.errors import FmnistError
from fmnist.profiles import Profile, get_profile

_current: "Session | None" = None


@dataclass(frozen=True)
class Session:
    """What `setup()` established: the stage (notebook name), profile, backend and device."""

    stage: str
    profile: Profile
    backend: str
    device: str


def setup(stage: str, seed: int = 0, profile: str | None = None, quiet: bool = False) -> Session:
    """Start a notebook: pick the profile, seed everything, print what this run uses, and make sure
    what it builds on exists (see `fmnist.prerequisites`).

    `profile` (the setup cell's PROFILE) wins over ``$FMNIST_PROFILE``; it is written back to that
    variable so every later call, and any notebook run from here, uses the same profile. On Colab the
    dependencies the runtime lacks are installed first.
    """
    global _current
    import os

    from fmnist import colab, environment, prerequisites
    from fmnist.repro import seed_everything

    if colab.in_colab():
        colab.install_missing()
    chosen = get_profile(profile)
    os.environ["FMNIST_PROFILE"] = chosen.name
    seed_everything(seed)
    _current = Session(stage, chosen, environment.backend(), environment.device())
    if not quiet:
        versions = ", ".join(f"{k} {v}" for k, v in environment.versions().items())
        print(f"Stage:   {stage}")
        print(f"Profile: {chosen.name} ({chosen.description})")
        print(f"Backend: {_current.backend} on {_current.device}")
        print(f"Versions: {versions}")
        advice = colab.profile_advice(stage, chosen.name, _current.device)
        if advice:
            print(advice)
    prerequisites.ensure(stage, chosen.name)
    return _current


def current() -> Session:
    """The session of the running notebook; an error if `setup()` was not called."""
    if _current is None:
        raise FmnistError("No notebook session: call fmnist.setup('<stage name>') in the setup cell first.")
    return _current
