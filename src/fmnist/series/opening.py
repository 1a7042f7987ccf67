"""How every notebook opens: its setup cell, its Colab badge, `fmnist.setup()`, and pointing them at a fork.

Notebooks are written with the setup template, and tests/test_notebooks.py checks that each notebook
still matches it, so the series opens the same way everywhere. The repository address is set in one
place, ``[project.urls] Repository`` in pyproject.toml; `fork()` rewrites it there and in every
notebook's badge and setup cell, for a reader who forks the repository.
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import metadata

import nbformat

from fmnist.errors import FmnistError
from fmnist.learn import environment
from fmnist.learn.native_logs import quiet_native_logs
from fmnist.learn.session import Session, start
from fmnist.paths import repo_root
from fmnist.series import colab, prerequisites, runner

DEFAULT_REPOSITORY = "https://github.com/fmnist-series/fashion-mnist-workflow"

SETUP_TEMPLATE = '''\
# Setup (plumbing, the same in every notebook): on Colab, fetch this repository first
STAGE = "{stage}"
PROFILE = None  # None: $FMNIST_PROFILE, else "full"; "small" and "smoke" are quicker (README: Profiles)
REPOSITORY = "{repository}"  # `fmnist fork <address>` points a fork's notebooks at the fork
import os, subprocess, sys
if "google.colab" in sys.modules and not os.path.isdir("src/fmnist"):
    folder = REPOSITORY.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    if not os.path.isdir(folder) and subprocess.run(["git", "clone", "-q", "--depth", "1", REPOSITORY]).returncode:
        sys.exit(f"Could not fetch {{REPOSITORY}}: connect the runtime to the internet (or fix REPOSITORY), then run this cell again.")
    os.chdir(folder)
    sys.path.insert(0, os.path.abspath("src"))
import fmnist
session = fmnist.setup(STAGE, PROFILE)  # backend before Keras, seeds, versions; on Colab, only what is missing
import keras'''

# Colab opens a notebook carrying these on a GPU runtime; other front ends ignore them.
COLAB_METADATA = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}

GITHUB = re.compile(r"^https://github\.com/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
BADGE = re.compile(r'(<a href=")https://colab\.research\.google\.com/github/[^"]+(" target="_parent">)')


def repository() -> str:
    """The repository address from pyproject.toml (or the installed metadata, as in Colab)."""
    pyproject = repo_root() / "pyproject.toml"
    if pyproject.is_file():
        urls = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"].get("urls", {})
        if "Repository" in urls:
            return urls["Repository"]
    try:
        for entry in metadata("fmnist").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip() == "Repository":
                return url.strip()
    except Exception:
        pass
    return DEFAULT_REPOSITORY


def colab_url(stage: str, address: str | None = None) -> str:
    """The Colab address that opens notebooks/<stage>.ipynb from the repository's main branch."""
    path = (address or repository()).removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/main/notebooks/{stage}.ipynb"


def setup_cell(stage: str, address: str | None = None) -> str:
    return SETUP_TEMPLATE.format(stage=stage, repository=address or repository())


def fork(address: str, root=None) -> list[str]:
    """Point pyproject.toml, every notebook's Colab badge and its setup cell at `address`.

    Only the first two cells of each notebook and one line of pyproject.toml change, so stored
    outputs stay as they are. Returns the files rewritten.
    """
    address = address.strip().removesuffix(".git").rstrip("/")
    if not GITHUB.match(address):
        raise FmnistError(f"{address!r} is not a GitHub repository address: give it as https://github.com/OWNER/NAME.")
    root = root or repo_root()
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    new_text, count = re.subn(r'(?m)^Repository = "[^"]*"$', f'Repository = "{address}"', text)
    if count != 1:
        raise FmnistError(f"{pyproject}: no `Repository = \"...\"` line under [project.urls] to rewrite.")
    changed = []
    if new_text != text:
        pyproject.write_text(new_text, encoding="utf-8")
        changed.append("pyproject.toml")
    for path in runner.notebooks(root / "notebooks"):
        nb = nbformat.read(path, as_version=4)
        title = nb.cells[0]
        setup = next(c for c in nb.cells if c.cell_type == "code")
        before = (title.source, setup.source)
        title.source = BADGE.sub(lambda m: m.group(1) + colab_url(path.stem, address) + m.group(2), title.source)
        setup.source = setup_cell(path.stem, address)
        if (title.source, setup.source) != before:
            nbformat.write(nb, path)
            changed.append(f"notebooks/{path.name}")
    return changed


def setup(stage: str, profile: str | None = None, seed: int = 0, quiet: bool = False) -> Session:
    """Start notebook `stage`; `profile` (the setup cell's PROFILE) wins over ``$FMNIST_PROFILE``.

    On Colab it first installs what the runtime lacks. It chooses the Keras backend before Keras is
    imported (``$KERAS_BACKEND``, else TensorFlow) and imports it without TensorFlow's native start-up
    lines, seeds, prints where the run happens, tells a reader without a GPU what a long notebook
    costs, and makes sure the notebooks this one builds on have run (`fmnist.series.prerequisites`).
    """
    if colab.in_colab():
        colab.install_package()  # the clone, without dependencies: `!fmnist ...` then works in a cell
        colab.install_missing()
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")  # must precede `import keras`; jax and torch work too
    with quiet_native_logs():
        import keras  # noqa: F401  (here, after the backend is chosen: the notebook's own import finds it loaded)
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
