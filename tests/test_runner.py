"""fmnist.series.runner and the command line: order, selection, progress, wall times and failure messages."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import backdate_records

from fmnist.series import cli, readme, runner
from fmnist.learn import environment, registry
from fmnist.errors import FmnistError, NotebookError


def make_notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# title")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.fixture
def series(scratch_home):
    folder = scratch_home / "notebooks"
    make_notebook(folder / "00_first.ipynb", "import os\nprint('profile', os.environ['FMNIST_PROFILE'])",
                  "print('Backend: tensorflow on CPU (2 cores)')")
    make_notebook(folder / "01_broken.ipynb", "x = 1", "# why it fails\nraise ValueError('boom')", "print('never')")
    (folder / "notes.ipynb").write_text("{}")  # not numbered: not part of the series
    return folder


def test_notebooks_are_numbered_and_ordered(series):
    assert [p.name for p in runner.notebooks(series)] == ["00_first.ipynb", "01_broken.ipynb"]


def test_select_by_number_name_or_full_stem(series):
    available = runner.notebooks(series)
    assert [p.stem for p in runner.select(available, ["01"])] == ["01_broken"]
    assert [p.stem for p in runner.select(available, ["broken", "00_first"])] == ["00_first", "01_broken"]
    with pytest.raises(FmnistError, match=r"No notebook matches 'nope'\. Available: 00_first, 01_broken"):
        runner.select(available, ["nope"])


def test_run_writes_smoke_copies_and_records_wall_time(series, scratch_home):
    timings = runner.run("smoke", only=["00"], folder=series)
    assert [name for name, _ in timings] == ["00_first"]
    executed = nbformat.read(scratch_home / "runs" / "smoke" / "00_first.ipynb", as_version=4)
    assert executed.cells[1].outputs[0]["text"] == "profile smoke\n"
    assert nbformat.read(series / "00_first.ipynb", as_version=4).cells[1].outputs == []  # source untouched
    (run,) = registry.read("smoke")["runs"]
    assert run["stage"] == "00_first" and run["status"] == "ok" and run["seconds"] > 0
    assert (run["backend"], run["device"]) == ("tensorflow", "CPU (2 cores)")
    assert run["commit"] == runner.code_commit()  # the code the notebook ran from, in README's runs table
    assert run["commit"] is None or len(run["commit"].split("+")[0]) == 10


def test_a_run_drops_the_results_its_notebook_no_longer_produces(series, scratch_home):
    registry.record("00_first", "old_model", "validation", 0.5, profile="smoke")
    registry.record("01_broken", "other_stage", "validation", 0.5, profile="smoke")
    backdate_records("smoke")
    progress = io.StringIO()
    runner.run("smoke", only=["00"], folder=series, stream=progress)
    assert [r["model"] for r in registry.read("smoke")["records"]] == ["other_stage"]
    assert "00_first: dropped results its new run no longer produces: old_model" in progress.getvalue()


def test_failure_names_notebook_cell_and_error(series, scratch_home):
    with pytest.raises(NotebookError) as info:
        runner.run("smoke", folder=series)
    message = str(info.value)
    assert message.startswith("01_broken.ipynb failed in code cell 2 of 3 (`raise ValueError('boom')`): ValueError: boom")
    assert "01_broken.failed.ipynb" in message
    assert (scratch_home / "runs" / "smoke" / "01_broken.failed.ipynb").exists()
    assert {r["stage"]: r["status"] for r in registry.read("smoke")["runs"]} == {"00_first": "ok"}
    failed = registry.read("smoke", runner.failed_runs_file("smoke"))["runs"]
    assert [(r["stage"], r["status"]) for r in failed] == [("01_broken", "failed")]


RECORDING_CELL = """from fmnist.learn import registry
data = registry.read("full")
data["records"].append({"stage": "00_first", "model": "fake", "split": "validation",
                        "accuracy": registry.summarise([0.5, 0.7]), "time": registry.now()})
registry.write(data, "full")"""


@pytest.fixture
def full_series(scratch_home):
    """A tiny series whose notebook records a result in the full profile, and a README to regenerate."""
    folder = scratch_home / "notebooks"
    make_notebook(folder / "00_first.ipynb", RECORDING_CELL, "print('Backend: tensorflow on CPU (2 cores)')")
    make_notebook(folder / "01_broken.ipynb", "raise ValueError('boom')")
    (scratch_home / "README.md").write_text(
        f"# Series\n\n{readme.README_START}\nold\n{readme.README_END}\n")
    return folder


def test_a_full_run_regenerates_readme_so_the_readme_check_passes(full_series, scratch_home):
    """`make run` followed by `make test`: the run rewrites README's results section itself."""
    before = (scratch_home / "README.md").read_text()
    stream = io.StringIO()
    runner.run("full", only=["00"], folder=full_series, stream=stream)
    assert (scratch_home / "README.md").read_text() != before
    assert readme.is_current(scratch_home / "README.md", registry.read("full"))  # the check of test_readme.py
    assert "| 00_first | fake | validation | 0.6000 ± 0.1414 |" in (scratch_home / "README.md").read_text()
    assert "README.md: results section regenerated" in stream.getvalue()


def test_a_failed_full_run_leaves_the_committed_registry_alone(full_series, scratch_home):
    with pytest.raises(NotebookError):
        runner.run("full", only=["01"], folder=full_series, stream=io.StringIO())
    assert not (scratch_home / "results" / "full.json").exists()  # nothing committed was written
    assert registry.read("full", runner.failed_runs_file("full"))["runs"][0]["status"] == "failed"
    assert runner.failed_runs_file("full").is_relative_to(scratch_home / "runs")  # git-ignored


def test_the_plan_says_what_runs_how_long_it_took_and_what_it_rewrites(full_series, scratch_home):
    registry.record_run("00_first", 7200.0, "ok", "full", "tensorflow", "CPU (2 cores)")
    registry.record_run("01_broken", 30.0, "ok", "full", "tensorflow", "GPU (H100)")
    chosen = runner.notebooks(full_series)
    text = runner.plan(chosen, "full", machine="CPU (2 cores)")
    assert "2 notebook(s) in the full profile on CPU (2 cores)" in text
    assert "00_first: 2.0 h last time" in text
    assert "01_broken: no earlier run on this kind of machine" in text  # its time was on a GPU
    assert "rewrites committed outputs" in text and "README" in text
    assert "committed files stay untouched" in runner.plan(chosen, "smoke", machine="CPU (2 cores)")
    stream = io.StringIO()
    runner.run("full", only=["00"], folder=full_series, stream=stream)
    assert stream.getvalue().startswith("fmnist run: 1 notebook(s) in the full profile")


def test_cli_prints_one_line_on_failure(series, capsys):
    assert cli.main(["run", "--profile", "smoke", "--only", "01"]) == 1
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("fmnist: error: 01_broken.ipynb failed in code cell 2 of 3")
    assert "Traceback" not in capsys.readouterr().err


def test_cli_report_formats(scratch_home, capsys):
    registry.record("01_baseline", "dense", "validation", [0.88, 0.89], profile="smoke")
    assert cli.main(["report", "--profile", "smoke", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["records"][0]["model"] == "dense"
    assert cli.main(["report", "--profile", "smoke", "--format", "markdown"]) == 0
    assert "| 01_baseline | dense | validation | 0.8850 ± 0.0071 |" in capsys.readouterr().out
    assert cli.main(["report", "--profile", "smoke"]) == 0
    assert "0.8850 ± 0.0071" in capsys.readouterr().out


def test_module_entry_point_reports_bad_data_in_one_line(tmp_path):
    env = {"FMNIST_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "fmnist", "data"], capture_output=True, text=True, env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("fmnist: error: FMNIST_DATA_DIR=")
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_progress_bar_names_the_running_cell(series, capsys):
    import io

    stream = io.StringIO()
    runner.run("smoke", only=["00"], folder=series, stream=stream)
    shown = stream.getvalue()
    assert "running `print('Backend: tensorflow on CPU (2 cor`" in shown  # first 40 characters
    assert "2/2" in shown


def test_a_dying_kernel_is_reported_without_a_traceback(scratch_home):
    folder = scratch_home / "notebooks"
    make_notebook(folder / "00_dies.ipynb", "x = 1", "import os\nos._exit(1)")
    with pytest.raises(NotebookError, match=r"00_dies\.ipynb: the kernel stopped near code cell \d of 2 \(DeadKernelError"):
        runner.run("smoke", folder=folder)
    assert (scratch_home / "runs" / "smoke" / "00_dies.failed.ipynb").exists()


def test_the_package_and_the_command_leave_keras_to_the_code_that_uses_it():
    """`import fmnist` leaves the backend to `fmnist.setup()`; `fmnist run`, `report` and `data` start without
    Keras (seconds, and TensorFlow's start-up lines on stderr); `predict` and `bench` import it themselves."""
    code = "import sys, fmnist, fmnist.series.cli; assert 'keras' not in sys.modules, 'Keras was imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_notebook_runs_without_the_kernels_unencrypted_tcp_warning(series, capfd):
    """ipykernel 7 printed "[IPKernelApp] WARNING | Kernel is running over TCP without encryption" on the
    runner's stderr once per notebook; the kernel's stderr is this process's, hence capfd."""
    runner.execute(series / "00_first.ipynb", "smoke")
    assert "without encryption" not in capfd.readouterr().err
    assert not list(series.glob("kernel-ipc*"))  # the kernel's sockets are not left beside the notebook


def test_notebooks_that_make_test_runs_through_nbval_are_in_the_next_plan(series, scratch_home):
    """`make test` executes the notebooks with nbval, not `fmnist run`; the runs it makes are recorded all
    the same (tests/conftest.py), so `fmnist run`'s plan gives their times instead of "no earlier run"."""
    env = dict(os.environ, FMNIST_HOME=str(scratch_home), FMNIST_PROFILE="smoke",
               PYTHONPATH=os.pathsep.join([str(Path(__file__).parent), str(Path(runner.__file__).parents[2])]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                           "--nbval-lax", "--nbval-current-env", "--rootdir", str(scratch_home),
                           str(series / "00_first.ipynb"), str(series / "01_broken.ipynb")],
                          cwd=scratch_home, env=env, capture_output=True, text=True)
    assert "1 failed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]  # 01_broken's error cell
    (run,) = registry.read("smoke")["runs"]  # the notebook that failed is not recorded
    assert (run["stage"], run["status"], run["device"]) == ("00_first", "ok", "CPU (2 cores)")
    assert run["cpu"] == environment.cpu()
    plan = runner.plan(runner.notebooks(series), "smoke", machine="CPU (2 cores)")
    assert "00_first: " in plan and "00_first: no earlier run" not in plan
