"""A simulated Colab runtime on Colab's package versions, for the Colab leg (tests/colab/).

Each `Runtime` is what a notebook opened from its badge gets: a fresh Python environment whose
libraries are those of ``.venv-colab`` (Colab's Python and published versions, built by
``.ci/colab/build.py``) and whose own site-packages start empty, so what the setup cell installs
lands there and nothing else is touched; a stand-in ``google.colab`` module, imported by the kernel
that the kernel spec ``python3`` starts, as Colab's launcher does; an empty working folder (Colab's
/content) and home; and
git configured (``url.<bare clone>.insteadOf``) so that the notebook's unmodified setup cell fetches
the repository's address from a local bare clone of this working tree. Nothing else of this machine
is visible to it but the network (PyPI, for what the setup cell installs) and Debian's dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]

# Run by the runtime's Python: execute a notebook as Colab would, keep what it stored even if a cell fails.
EXECUTE = """\
import sys, nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
nb = nbformat.read(sys.argv[1], as_version=4)
client = NotebookClient(nb, kernel_name="python3", timeout=int(sys.argv[4]), resources={"metadata": {"path": sys.argv[2]}})
try:
    client.execute()
    status = 0
except CellExecutionError as exc:
    print(str(exc)[-6000:], file=sys.stderr)
    status = 1
nbformat.write(nb, sys.argv[3])
sys.exit(status)
"""


def git(*args, cwd) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def bare_clone_of_working_tree(folder: Path) -> Path:
    """A bare repository holding the working tree as it is now (tracked and new files, not ignored ones)."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).split("\0")
    source = folder / "source"
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    git("init", "-q", cwd=source)
    git("add", "-A", cwd=source)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot", cwd=source)
    bare = folder / "fashion-mnist-workflow.git"
    git("clone", "-q", "--bare", str(source), str(bare), cwd=folder)
    shutil.rmtree(source)
    return bare


def repository_address() -> str:
    """The address every notebook's setup cell clones (pyproject.toml's Repository)."""
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["urls"]["Repository"]


def colab_venv() -> Path:
    """.venv-colab, as `make test-colab` names it in $FMNIST_COLAB_VENV."""
    named = os.environ.get("FMNIST_COLAB_VENV")
    if not named:
        raise RuntimeError("The Colab leg runs with `make test-colab`, which builds .venv-colab from "
                           ".ci/colab/pip-freeze.txt and names it in $FMNIST_COLAB_VENV.")
    venv = (REPO / named).resolve()
    if not (venv / "bin" / ".installed").is_file():
        raise RuntimeError(f"{venv} is not built: run `make test-colab`.")
    return venv


def _purelib(python: Path) -> str:
    return subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()


class Runtime:
    """One fresh simulated Colab runtime under `root`, on the libraries of `venv`, fetching from `bare`."""

    def __init__(self, root: Path, venv: Path, bare: Path):
        self.root = root
        self.python_env = root / "runtime"
        # --without-pip: pip too is Colab's (.venv-colab's), and installs into this environment
        subprocess.run([str(venv / "bin" / "python"), "-m", "venv", "--without-pip", str(self.python_env)],
                       check=True)
        self.python = self.python_env / "bin" / "python"
        self.site = Path(_purelib(self.python))
        # A path added by a .pth file is searched, but the .pth files inside it are not run; .venv-colab has none
        # that matter, and its own site-packages stay untouched by what the runtime installs.
        (self.site / "zz_colab_libraries.pth").write_text(_purelib(venv / "bin" / "python") + "\n")
        stand_in = self.site / "google" / "colab"  # `google` stays a namespace package (protobuf's)
        stand_in.mkdir(parents=True)
        (stand_in / "__init__.py").write_text('"""Stand-in for Colab\'s module: its presence is what the series checks."""\n')
        # Colab's kernel spec `python3` starts its own launcher, which imports google.colab; so does this one
        (self.site / "colab_kernel_launcher.py").write_text(
            "import google.colab  # what Colab's launcher has loaded before the kernel runs a cell\n"
            "from ipykernel import kernelapp\n"
            "if __name__ == '__main__':\n    kernelapp.launch_new_instance()\n")
        kernel = root / "jupyter" / "kernels" / "python3"
        kernel.mkdir(parents=True)
        (kernel / "kernel.json").write_text(json.dumps({
            "argv": [str(self.python), "-m", "colab_kernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (simulated Colab)", "language": "python"}))
        (root / "gitconfig").write_text(f'[url "file://{bare}"]\n\tinsteadOf = {repository_address()}\n')
        self.home, self.content = root / "home", root / "content"
        self.home.mkdir()
        self.content.mkdir()
        self.clone = self.content / repository_address().rstrip("/").rsplit("/", 1)[-1]
        # Not this test run's settings: PYTEST_CURRENT_TEST, for one, turns off ipykernel's capture of what
        # child processes write to the kernel's stdout and stderr, which Colab shows (and stores) in the cell.
        keep = {k: v for k, v in os.environ.items()
                if not k.startswith(("FMNIST_", "KERAS_", "VIRTUAL_ENV", "PYTHON", "JUPYTER", "IPYTHON", "PYTEST",
                                     "PIP_DISABLE_PIP_VERSION_CHECK", "GIT_", "MPLBACKEND", "PYDEVD"))}
        self.env = {**keep, "HOME": str(self.home), "JUPYTER_PATH": str(root / "jupyter"), "GIT_CONFIG_GLOBAL": str(root / "gitconfig"),
                    "GIT_CONFIG_NOSYSTEM": "1", "PATH": f"{self.python_env / 'bin'}{os.pathsep}{keep.get('PATH', '')}"}

    def execute(self, notebook: Path, profile: str | None = None, timeout: int = 1200) -> tuple[object, str]:
        """Run `notebook` (unmodified) in the working folder; the executed notebook and the runner's stderr.

        `profile` stands for what a reader types into the setup cell's PROFILE (None: Colab's default, full).
        """
        opened, executed = self.root / notebook.name, self.root / f"executed-{notebook.name}"
        shutil.copy2(notebook, opened)
        env = {**self.env, **({"FMNIST_PROFILE": profile} if profile else {})}
        done = subprocess.run([str(self.python), "-c", EXECUTE, str(opened), str(self.content), str(executed),
                               str(timeout)], env=env, cwd=self.content, capture_output=True, text=True,
                              timeout=timeout + 300)
        if not executed.is_file():
            raise AssertionError(f"{notebook.name} did not run:\n{(done.stdout + done.stderr)[-6000:]}")
        nb = nbformat.read(executed, as_version=4)
        if done.returncode:
            raise AssertionError(f"{notebook.name} failed in the simulated Colab runtime:\n{errors(nb)}\n"
                                 f"{done.stderr[-3000:]}")
        return nb, done.stderr

    def run(self, *command: str, cwd: Path | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
        """A command as a `!command` cell runs it, from the clone by default."""
        return subprocess.run(list(command), env=self.env, cwd=cwd or self.clone, capture_output=True, text=True,
                              timeout=timeout)

    def installed_here(self) -> dict[str, str]:
        """The distributions installed into the runtime itself (not Colab's libraries): name -> version."""
        found = {}
        for info in self.site.glob("*.dist-info"):
            name, _, version = info.name.removesuffix(".dist-info").partition("-")
            found[name.lower().replace("_", "-")] = version
        return found


def outputs_text(nb, cell_index: int | None = None) -> str:
    """Every stored output of the notebook (or of one cell) as text: streams, data and errors."""
    cells = nb.cells if cell_index is None else [nb.cells[cell_index]]
    parts = []
    for cell in cells:
        for output in cell.get("outputs", []):
            parts.append(output.get("text", ""))
            parts += [json.dumps(value) if not isinstance(value, str) else value
                      for value in output.get("data", {}).values()]
            parts += [output.get("ename", ""), output.get("evalue", ""), *output.get("traceback", [])]
    return "\n".join(parts)


def errors(nb) -> str:
    return "\n".join(f"{o.get('ename')}: {o.get('evalue')}" for c in nb.cells for o in c.get("outputs", [])
                     if o.get("output_type") == "error") or "(no error output stored)"


def setup_cell_index(nb) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")


def noise(nb) -> list[str]:
    """What the setup cell must not leave in a notebook on Colab: pip's notice, debugger lines, dead widgets,
    TensorFlow's native start-up lines."""
    text = outputs_text(nb)
    found = [what for what, marker in (
        ("pip's 'new release' notice", "A new release of pip"), ("debugger lines", "PYDEVD"),
        ("debugger lines", "frozen modules"), ("TensorFlow's native start-up lines", "absl::InitializeLog"))
        if marker in text]
    widgets = [i for i, c in enumerate(nb.cells) for o in c.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    if widgets:
        found.append(f"progress widgets stored in cells {widgets}")
    return found


def python_of(venv: Path) -> str:
    return subprocess.run([str(venv / "bin" / "python"), "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                          check=True, capture_output=True, text=True).stdout.strip()

