"""Figures: one helper saves every figure of the series, under ``figures/<profile>/<stage>/``."""

from __future__ import annotations

from pathlib import Path

from fmnist import paths


def save_fig(fig, name: str, stage: str | None = None, profile: str | None = None, dpi: int = 110) -> Path:
    """Save a Matplotlib figure as PNG in the current notebook's figures folder and return its path.

    `stage` and `profile` default to what `fmnist.setup()` was called with. The file is
    written atomically, so an interrupted run never leaves half an image.
    """
    from fmnist.session import current

    stage = stage or current().stage
    profile = profile or current().profile.name
    target = paths.figures_dir(profile, stage) / f"{name}.png"
    fig.tight_layout()
    with paths.atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png")
    return target
