"""The common opening of every notebook: title cell with Colab badge, and the setup cell.

Notebooks are written with these templates and tests/test_notebooks.py checks that each
notebook still matches them, so the series opens the same way everywhere. The repository
address comes from one place: ``[project.urls] Repository`` in pyproject.toml.
"""

from __future__ import annotations

from fmnist.paths import repo_root

DEFAULT_REPOSITORY = "https://github.com/fmnist-series/fashion-mnist-workflow"

SETUP_TEMPLATE = '''\
# Setup: the same cell opens every notebook of the series; only STAGE differs.
STAGE = "{stage}"
import os
import subprocess
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:  # Colab has TensorFlow, Keras and the rest; only the series' own package is missing
    try:
        import fmnist
    except ImportError:
        subprocess.check_call([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                               "git+{repository}"])
os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # must precede `import keras`; jax and torch work too
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's C++ start-up chatter is not for readers
import keras

import fmnist

session = fmnist.setup(STAGE)  # profile from FMNIST_PROFILE (default: full), seeds, versions'''

TITLE_TEMPLATE = '''\
# {title}

**Purpose:** {purpose}

<a href="{badge_target}" target="_parent"><img src="https://colab.research.google.com/assets/colab-badge.svg" alt="Open In Colab"/></a>'''


def repository() -> str:
    """The repository address from pyproject.toml (or the installed metadata, as in Colab)."""
    pyproject = repo_root() / "pyproject.toml"
    if pyproject.is_file():
        import tomllib

        urls = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("urls", {})
        if "Repository" in urls:
            return urls["Repository"]
    try:
        from importlib.metadata import metadata

        for entry in metadata("fmnist").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip() == "Repository":
                return url.strip()
    except Exception:
        pass
    return DEFAULT_REPOSITORY


def colab_url(stage: str) -> str:
    """The Colab address that opens notebooks/<stage>.ipynb from the repository's main branch."""
    path = repository().removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{stage}.ipynb"


def title_cell(stage: str, title: str, purpose: str) -> str:
    return TITLE_TEMPLATE.format(title=title, purpose=purpose, badge_target=colab_url(stage))


def setup_cell(stage: str) -> str:
    return SETUP_TEMPLATE.format(stage=stage, repository=repository())
