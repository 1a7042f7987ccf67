"""The setup cell's pieces: what Colab lacks, the earlier notebooks a notebook builds on, quiet
TensorFlow start-up, one-line errors in Jupyter, and pointing the series at a fork."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

import nbformat
import pytest

from conftest import REPO
from fmnist.series import colab, opening, prerequisites
from fmnist.learn import registry
from fmnist.errors import FmnistError, PrerequisiteError


# --- what Colab lacks ---------------------------------------------------------------------------

def test_only_requirements_that_are_not_installed_are_installed():
    calls = []

    def installer(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 0, "", "")

    installed = colab.install_missing(["numpy>=1.0", "surely-not-a-real-package-xyz>=1"], installer=installer)
    assert installed == ["surely-not-a-real-package-xyz>=1"]
    assert calls == [[sys.executable, "-m", "pip", "install", "-q", "surely-not-a-real-package-xyz>=1"]]
    assert colab.install_missing(["numpy>=99"], installer=installer) == []  # any installed version counts
    assert len(calls) == 1


def test_a_failed_install_is_one_line_that_says_what_to_do():
    def offline(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, "", "ERROR: No matching distribution found for zzz\n")

    with pytest.raises(FmnistError, match=r"Could not install surely-missing-zzz \(ERROR: No matching .*\)\. "
                                          r"Check the runtime's internet connection"):
        colab.install_missing(["surely-missing-zzz"], installer=offline)


def test_requirements_are_the_package_dependencies_without_extras():
    listed = colab.requirements()
    assert any(r.startswith("keras") for r in listed)
    assert not any("extra ==" in r for r in listed)


def test_a_cpu_reader_is_told_what_full_costs_before_a_long_notebook(scratch_home):
    registry.record_run("04_regularisation", 4241, "ok", "full", "tensorflow", "CPU (2 cores)")
    registry.record_run("00_problem_and_data", 10, "ok", "full", "tensorflow", "CPU (2 cores)")
    advice = colab.profile_advice("04_regularisation", "full", "CPU (2 cores)")
    assert "71 min" in advice and "CPU (2 cores)" in advice and 'PROFILE = "small"' in advice
    assert colab.profile_advice("04_regularisation", "full", "GPU (NVIDIA T4)") is None
    assert colab.profile_advice("04_regularisation", "smoke", "CPU (2 cores)") is None
    assert colab.profile_advice("00_problem_and_data", "full", "CPU (2 cores)") is None  # short: no advice


# --- the notebooks a notebook builds on ---------------------------------------------------------

def test_what_each_notebook_builds_on_is_followed_through():
    assert prerequisites.needed("00_problem_and_data") == []
    assert prerequisites.needed("04_regularisation") == ["01_baseline", "02_low_capacity_convnet", "03_overfit"]
    assert prerequisites.needed("06_final_evaluation")[-1] == "05_transfer_learning"


def test_the_committed_full_artefacts_are_what_later_notebooks_build_on():
    """In a clone, every notebook but 06 finds what it builds on among the committed full-profile files."""
    for stage in ("02_low_capacity_convnet", "03_overfit", "04_regularisation"):
        assert prerequisites.missing(stage, "full") == [], stage


def test_a_profile_without_the_earlier_artefacts_stops_with_one_line_naming_them(scratch_home, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    with pytest.raises(PrerequisiteError) as caught:
        prerequisites.ensure("03_overfit", "small")
    message = str(caught.value)
    assert "\n" not in message
    assert "03_overfit builds on 01_baseline, 02_low_capacity_convnet" in message
    assert "`fmnist run --profile small --only 01 02`" in message and 'make run PROFILE=small ONLY="01 02"' in message


def test_on_colab_the_command_is_a_cell_command(scratch_home, monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    with pytest.raises(PrerequisiteError, match=r"`!fmnist run --profile small --only 01` in a cell"):
        prerequisites.ensure("02_low_capacity_convnet", "small")


def test_a_stage_counts_as_run_only_with_its_record_and_its_model(scratch_home):
    registry.record("01_baseline", "dense", "validation", [0.5], profile="small")
    assert not prerequisites.has_run("01_baseline", "small")
    (scratch_home / "models" / "small").mkdir(parents=True)
    (scratch_home / "models" / "small" / "01_baseline.keras").write_bytes(b"x")
    assert prerequisites.has_run("01_baseline", "small")
    assert prerequisites.ensure("02_low_capacity_convnet", "small") == []


def test_smoke_runs_the_missing_notebooks_first_and_says_so(scratch_home, monkeypatch, capsys):
    ran = []
    from fmnist.series import runner

    monkeypatch.setattr(runner, "run", lambda profile, only, stream: ran.append((profile, only)))
    assert prerequisites.ensure("03_overfit", "smoke") == ["01_baseline", "02_low_capacity_convnet"]
    assert ran == [("smoke", ["01_baseline", "02_low_capacity_convnet"])]
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "03_overfit builds on 01_baseline, 02_low_capacity_convnet: running them first in the smoke profile."
    assert len(out) == 2


def test_package_errors_are_one_line_in_jupyter():
    error = PrerequisiteError("04_regularisation builds on 03_overfit. Run it first.")
    assert error._render_traceback_() == ["PrerequisiteError: 04_regularisation builds on 03_overfit. Run it first."]


# --- quiet TensorFlow start-up ------------------------------------------------------------------

def test_native_log_lines_are_held_back_and_everything_else_passed_on():
    script = textwrap.dedent("""
        import os, sys
        from fmnist.learn.native_logs import quiet_native_logs
        with quiet_native_logs():
            os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
            os.write(2, b"I0000 00:00:1796160588.103638    6772 cudart_stub.cc:31] Could not find cuda drivers\\n")
            os.write(2, b"E0000 00:00:1795435268.676582    4993 cuda_platform.cc:52] failed call to cuInit\\n")
            os.write(2, b"a real error the reader must see\\n")
        print("done", file=sys.stderr)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "a real error the reader must see\ndone\n"


TENSORFLOW_LEG = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("tensorflow") is None
    or __import__("os").environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
    reason="TensorFlow's native start-up lines exist only on the TensorFlow backend (make test's first leg)")


@TENSORFLOW_LEG
def test_importing_keras_inside_the_block_prints_no_native_lines():
    script = "import fmnist\nwith fmnist.quiet_native_logs():\n    import keras\nprint(keras.__version__)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "KERAS_BACKEND": "tensorflow"})
    assert done.returncode == 0, done.stderr
    assert "absl" not in done.stderr and "cudart_stub" not in done.stderr and "cpu_feature_guard" not in done.stderr


NATIVE_MARKERS = ("absl::InitializeLog", "cudart_stub.cc", "cpu_feature_guard.cc", "oneDNN custom operations")


def native_lines(nb) -> list[str]:
    return [line for cell in nb.cells if cell.cell_type == "code" for out in cell.get("outputs", [])
            for line in (out.get("text") or "").splitlines() if any(m in line for m in NATIVE_MARKERS)]


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_no_committed_output_has_native_tensorflow_lines(path):
    assert native_lines(nbformat.read(path, as_version=4)) == []


@TENSORFLOW_LEG
def test_a_plain_nbconvert_execute_has_no_native_tensorflow_lines(tmp_path):
    """Not through `fmnist run`: plain `jupyter nbconvert --execute`, as a reader's JupyterLab would run it."""
    out = tmp_path / "00.ipynb"
    done = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                           str(REPO / "notebooks" / "00_problem_and_data.ipynb"), "--output", str(out)],
                          capture_output=True, text=True, timeout=600, cwd=REPO / "notebooks",
                          env={**__import__("os").environ, "FMNIST_PROFILE": "smoke"})
    assert done.returncode == 0, done.stderr[-2000:]
    executed = nbformat.read(out, as_version=4)
    assert "Profile: smoke" in "".join(o.get("text", "") for o in executed.cells[1].outputs)
    assert native_lines(executed) == []


# --- one address, and a fork ----------------------------------------------------------------------

def test_fork_points_pyproject_badges_and_setup_cells_at_the_fork(tmp_path):
    root = tmp_path / "fork"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    source = REPO / "notebooks" / "02_low_capacity_convnet.ipynb"
    (root / "notebooks" / source.name).write_text(source.read_text())
    address = "https://github.com/someone/my-fork"
    changed = opening.fork(address + ".git", root=root)
    assert changed == ["pyproject.toml", f"notebooks/{source.name}"]
    assert f'Repository = "{address}"' in (root / "pyproject.toml").read_text()
    nb = nbformat.read(root / "notebooks" / source.name, as_version=4)
    assert opening.colab_url(source.stem, address) in nb.cells[0].source
    assert f'REPOSITORY = "{address}"' in nb.cells[1].source
    assert nb.cells[1].source == opening.setup_cell(source.stem, address)
    original = nbformat.read(source, as_version=4)
    assert [c.get("outputs") for c in nb.cells[2:]] == [c.get("outputs") for c in original.cells[2:]]
    assert opening.fork(address, root=root) == []  # a second time changes nothing


def test_fork_refuses_an_address_that_is_not_a_github_repository(tmp_path):
    with pytest.raises(FmnistError, match=r"not a GitHub repository address: give it as https://github.com/OWNER/NAME"):
        opening.fork("git@github.com:someone/fork.git", root=tmp_path)


@pytest.mark.parametrize("path", sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_notebooks_ask_colab_for_a_gpu_runtime(path):
    metadata = json.loads(path.read_text())["metadata"]
    assert metadata["accelerator"] == "GPU" and metadata["colab"]["gpuType"]


def test_fork_command_reports_the_files_and_refuses_a_bad_address(tmp_path, monkeypatch, capsys):
    from fmnist.series import cli

    root = tmp_path / "fork"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    monkeypatch.setenv("FMNIST_HOME", str(root))
    assert cli.main(["fork", "https://github.com/someone/fork"]) == 0
    assert capsys.readouterr().out.startswith("Pointed at https://github.com/someone/fork: pyproject.toml.")
    assert cli.main(["fork", "someone/fork"]) == 1
    assert "not a GitHub repository address" in capsys.readouterr().err
