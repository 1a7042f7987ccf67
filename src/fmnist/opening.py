"""Opening a notebook: what `fmnist.setup(STAGE)` in every setup cell does.

It installs what Colab lacks, starts the session (profile, seeds), prints where the run happens,
tells a reader without a GPU what a long notebook costs, and makes sure the notebooks this one builds
on have run (see `fmnist.prerequisites`).
"""

from __future__ import annotations

from fmnist import colab, environment, prerequisites
from fmnist.session import Session, start


def setup(stage: str, seed: int = 0, profile: str | None = None, quiet: bool = False) -> Session:
    """Start notebook `stage`; `profile` (the setup cell's PROFILE) wins over ``$FMNIST_PROFILE``."""
    if colab.in_colab():
        colab.install_missing()
    session = start(stage, seed, profile)
    if not quiet:
        versions = ", ".join(f"{k} {v}" for k, v in environment.versions().items())
        print(f"Stage:   {stage}")
        print(f"Profile: {session.profile.name} ({session.profile.description})")
        print(f"Backend: {session.backend} on {session.device}")
        print(f"Versions: {versions}")
        advice = colab.profile_advice(stage, session.profile.name, session.device)
        if advice:
            print(advice)
    prerequisites.ensure(stage, session.profile.name)
    return session
