"""What `fmnist.setup()` does on Colab besides what tests/test_setup_cell.py covers: it installs the clone
itself without dependencies, runs pip without its version notice, and the kernels the runner starts for
earlier notebooks are quiet plain IPython in the same Python. The Colab leg (tests/colab/) checks the
same on the stored outputs of notebooks run in a simulated Colab runtime."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import nbformat
import pytest

from conftest import REPO
from fmnist.errors import FmnistError
from fmnist.series import colab, runner


def recorder(calls, returncode=0, stderr=""):
    def installer(command, **kwargs):
        calls.append((command, kwargs))
        return subprocess.CompletedProcess(command, returncode, "", stderr)
    return installer


def test_pip_runs_without_its_version_notice():
    calls = []
    colab.install_missing(["surely-not-a-real-package-xyz>=1"], installer=recorder(calls))
    assert calls[0][1]["env"]["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
    assert calls[0][1]["capture_output"] is True  # pip's own lines are shown only when it fails


def test_the_clone_is_installed_editable_without_dependencies_once(tmp_path, monkeypatch):
    root = tmp_path / "fashion-mnist-workflow"
    root.mkdir()
    (root / "pyproject.toml").write_text('[build-system]\nrequires = ["setuptools>=77"]\n')
    calls = []
    monkeypatch.setattr(colab, "installed_from", lambda folder: False)
    monkeypatch.setattr(colab, "_builds_here", lambda folder: False)
    assert colab.install_package(root, installer=recorder(calls)) is True
    command, options = calls[0]
    assert command == [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "-e", str(root.resolve())]
    assert options["env"]["PIP_DISABLE_PIP_VERSION_CHECK"] == "1"
    monkeypatch.setattr(colab, "installed_from", lambda folder: True)
    assert colab.install_package(root, installer=recorder(calls)) is False and len(calls) == 1


def test_the_runtimes_setuptools_builds_the_clone_only_if_recent_enough(tmp_path):
    from importlib import metadata

    have = metadata.version("setuptools")  # the test environment has one (pip's build requirement)
    for floor, builds in (("1", True), ("999", False)):
        (tmp_path / "pyproject.toml").write_text(f'[build-system]\nrequires = ["setuptools>={floor}"]\n')
        assert colab._builds_here(tmp_path) is builds, (have, floor)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["build-system"]["requires"][0].startswith("setuptools>=77")  # SPDX `license` (PEP 639)


def test_a_failed_install_quotes_pips_error_line(tmp_path, monkeypatch):
    monkeypatch.setattr(colab, "installed_from", lambda folder: False)
    stderr = "  ValueError: invalid pyproject.toml config\n  [end of output]\nerror: metadata-generation-failed\nhint: See above\n"
    with pytest.raises(FmnistError, match=r"Could not install this package from .* \(error: metadata-generation-failed\)"):
        colab.install_package(tmp_path, installer=recorder([], 1, stderr))


def test_installed_from_reads_pips_record(tmp_path, monkeypatch):
    class Distribution:
        def read_text(self, name):
            return json.dumps({"url": tmp_path.resolve().as_uri(), "dir_info": {"editable": True}})

    monkeypatch.setattr(colab.metadata, "distribution", lambda name: Distribution())
    assert colab.installed_from(tmp_path) is True
    assert colab.installed_from(tmp_path / "elsewhere") is False


def test_requirements_come_from_the_clones_pyproject_without_jupyter():
    listed = colab.requirements()
    assert listed == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [r for r in listed if r.startswith(("jupyter", "jupyterlab", "notebook"))]
    assert any(r.startswith("keras-tuner") for r in listed)


def test_a_kernel_the_runner_starts_is_this_python_quiet_and_not_colabs(tmp_path, monkeypatch):
    """Plain IPython in sys.executable (Colab's `python3` kernel spec would import google.colab), with the
    debugger's "frozen modules" warning off; the runner's own environment is left as it was."""
    monkeypatch.delenv("PYDEVD_DISABLE_FILE_VALIDATION", raising=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import os, sys\nprint(sys.executable, os.environ.get('PYDEVD_DISABLE_FILE_VALIDATION'), 'google.colab' in sys.modules)")]
    path = tmp_path / "notebooks" / "probe.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    executed = runner.execute(path, "smoke", timeout=300)
    assert executed.cells[0].outputs[0]["text"].split() == [sys.executable, "1", "False"]
    assert "PYDEVD_DISABLE_FILE_VALIDATION" not in __import__("os").environ


def test_the_runners_progress_is_text_on_its_stream():
    """In a kernel (prerequisites on Colab) tqdm.auto would store a widget, frozen at 0%, in the cell."""
    import inspect

    source = inspect.getsource(runner._run_all)
    assert "from tqdm.std import tqdm" in source and "from tqdm.auto" not in source

