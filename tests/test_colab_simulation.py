"""Colab, simulated: a notebook opened alone from its badge, in a runtime that lacks the package.

A stand-in `google.colab` module, an empty working folder (Colab's /content), a fresh virtual
environment that sees TensorFlow, Keras and the rest but not `fmnist`, and the repository address
pointing at a local bare clone of this working tree. Notebook 02 alone must then fetch the
repository, install the package without touching TensorFlow or Keras, run 01 first (smoke has no
results of it yet) and run to the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest

from conftest import REPO
from fmnist.series import opening

NOTEBOOK = "02_low_capacity_convnet"


def git(*args, cwd):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def bare_clone_of_working_tree(tmp_path: Path) -> Path:
    """A bare repository holding the working tree as it is now (tracked and new files, not ignored ones)."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO).split("\0")
    source = tmp_path / "source"
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    git("init", "-q", cwd=source)
    git("add", "-A", cwd=source)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "snapshot", cwd=source)
    bare = tmp_path / "fashion-mnist-workflow.git"
    git("clone", "-q", "--bare", str(source), str(bare), cwd=tmp_path)
    return bare


def runtime_without_the_package(tmp_path: Path) -> Path:
    """A fresh venv that sees this environment's site-packages (TensorFlow, Keras...) but not fmnist."""
    venv = tmp_path / "runtime"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # A path added by a .pth file is searched, but the .pth files inside it (fmnist's editable
    # install among them) are not run: the runtime has the libraries, not the package.
    Path(site, "zz_host_libraries.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    stubs = tmp_path / "stubs"
    (stubs / "google" / "colab").mkdir(parents=True)  # `google` stays a namespace package (protobuf)
    (stubs / "google" / "colab" / "__init__.py").write_text('"""Stand-in for Colab\'s module."""\n')
    (stubs / "sitecustomize.py").write_text("import google.colab  # as Colab's kernels have it\n")
    kernels = tmp_path / "jupyter" / "kernels" / "python3"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "simulated Colab", "language": "python"}))
    return venv


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="Colab's default backend; the setup cell's plumbing is the same on every backend")
def test_notebook_02_alone_in_simulated_colab(tmp_path):
    bare = bare_clone_of_working_tree(tmp_path)
    venv = runtime_without_the_package(tmp_path)
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FMNIST_HOME", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(tmp_path / "stubs"), JUPYTER_PATH=str(tmp_path / "jupyter"), FMNIST_PROFILE="smoke",
               PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}", PIP_DISABLE_PIP_VERSION_CHECK="1")
    before = subprocess.run([str(python), "-c", "import fmnist"], env=env, capture_output=True, text=True)
    assert before.returncode != 0 and "No module named 'fmnist'" in before.stderr

    content = tmp_path / "content"
    content.mkdir()
    nb = nbformat.read(REPO / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    assert setup.source == opening.setup_cell(NOTEBOOK)
    setup.source = opening.setup_cell(NOTEBOOK, f"file://{bare}")
    runner = tmp_path / "execute.py"
    runner.write_text(
        "import sys, nbformat\nfrom nbclient import NotebookClient\n"
        "nb = nbformat.read(sys.argv[1], as_version=4)\n"
        "NotebookClient(nb, kernel_name='python3', timeout=900, resources={'metadata': {'path': sys.argv[2]}}).execute()\n"
        "nbformat.write(nb, sys.argv[3])\n")
    opened = tmp_path / "opened.ipynb"
    nbformat.write(nb, opened)
    done = subprocess.run([str(python), str(runner), str(opened), str(content), str(tmp_path / "executed.ipynb")],
                          env=env, cwd=content, capture_output=True, text=True, timeout=1500)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]

    executed = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    setup_out = "".join(o.get("text", "") for o in executed.cells[1].outputs)
    assert "Profile: smoke" in setup_out
    assert f"{NOTEBOOK} builds on 01_baseline: running it first in the smoke profile." in setup_out
    assert "absl::InitializeLog" not in json.dumps(executed)
    clone = content / "fashion-mnist-workflow"
    assert (clone / "results" / "smoke.json").is_file() and (clone / "models" / "smoke" / f"{NOTEBOOK}.keras").is_file()
    # The package was installed into the runtime; TensorFlow and Keras were not replaced.
    listed = subprocess.run([str(python), "-m", "pip", "list", "--path",
                             subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                            capture_output=True, text=True, env=env).stdout.strip()],
                            env=env, capture_output=True, text=True).stdout.lower()
    assert "fmnist" in listed
    assert "tensorflow" not in listed and "keras " not in listed


def test_an_unreachable_repository_is_one_line_saying_what_to_do(tmp_path):
    venv = runtime_without_the_package(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FMNIST_HOME", "VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(PYTHONPATH=str(tmp_path / "stubs"), JUPYTER_PATH=str(tmp_path / "jupyter"), FMNIST_PROFILE="smoke")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(opening.setup_cell(NOTEBOOK, f"file://{tmp_path}/no-such-repository"))]
    opened, content = tmp_path / "opened.ipynb", tmp_path / "content"
    content.mkdir()
    nbformat.write(nb, opened)
    script = ("import sys, nbformat\nfrom nbclient import NotebookClient\nnb = nbformat.read(sys.argv[1], as_version=4)\n"
              "NotebookClient(nb, kernel_name='python3', timeout=300, allow_errors=True).execute()\n"
              "print([o for o in nb.cells[0].outputs if o.output_type == 'error'][0]['evalue'])\n")
    done = subprocess.run([str(venv / "bin" / "python"), "-c", script, str(opened)], env=env, cwd=content,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == (f"Could not fetch file://{tmp_path}/no-such-repository: connect the runtime to the "
                                   f"internet (or fix REPOSITORY), then run this cell again.")
