"""Ctrl-C (SIGINT) and SIGTERM on `fmnist run`: a real signal to a real run, in a scratch repository."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest
from test_runner import make_notebook

from fmnist.series import cli, runner

SRC = str(Path(__file__).resolve().parents[1] / "src")  # absolute: the kernel imports this package too
# An hour: a run that waited for the sleeping cell would outlast the test's generous wait by far, so the
# test needs no elapsed-time limit, which would fail whenever other work slows the machine down.
NAP = "import os, time; time.sleep(float(os.environ.get('NAP', '3600')))"


@pytest.fixture
def sleepy(scratch_home):
    make_notebook(scratch_home / "notebooks" / "00_sleepy.ipynb", "print('first')", NAP, "print('last')")
    return scratch_home


def start_run(home: Path, nap: str = "3600") -> subprocess.Popen:
    env = dict(os.environ, FMNIST_HOME=str(home), PYTHONPATH=SRC, NAP=nap)
    return subprocess.Popen([sys.executable, "-m", "fmnist", "run", "--profile", "smoke"], env=env, cwd=home,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_sleeping_cell(process: subprocess.Popen, deadline: float = 300):
    """Wait until the progress bar shows the sleeping cell running; return the characters of stderr
    read so far (a list that goes on filling) and the thread reading them."""
    seen = []

    def read():
        for char in iter(lambda: process.stderr.read(1), ""):
            seen.append(char)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    end = time.monotonic() + deadline
    while "running `import os, time" not in "".join(seen):
        if time.monotonic() > end or process.poll() is not None:
            process.kill()
            pytest.fail(f"the sleeping cell never showed up: {''.join(seen)[-2000:]}")
        time.sleep(0.1)
    time.sleep(0.5)  # the cell's execute request is on its way to the kernel
    return seen, reader


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_run_in_one_line_and_the_next_run_finds_the_copy(sleepy, signum, code):
    process = start_run(sleepy)
    seen, reader = wait_for_sleeping_cell(process)
    process.send_signal(signum)
    try:
        process.wait(timeout=600)  # not communicate(): the reader thread owns stderr
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("stopping waited for the sleeping cell")
    reader.join(5)
    process.stdout.close()
    stderr = "".join(seen)
    assert process.returncode == code, stderr[-2000:]
    assert "Traceback" not in stderr and "AssertionError" not in stderr, stderr[-3000:]
    last = stderr.strip().splitlines()[-1]
    name = signal.Signals(signum).name
    assert last == (f"fmnist: interrupted: {name} stopped 00_sleepy.ipynb in code cell 2 of 3; its partly "
                    f"executed copy is runs/smoke/00_sleepy.interrupted.ipynb. Run the same command again "
                    f"to start over."), last
    partial = sleepy / "runs" / "smoke" / "00_sleepy.interrupted.ipynb"
    kept = nbformat.read(partial, as_version=4)
    assert kept.cells[1].outputs[0]["text"] == "first\n"  # what ran before the signal is in the copy
    assert not (sleepy / "runs" / "smoke" / "00_sleepy.ipynb").exists()
    assert not [p.name for p in (sleepy / "runs" / "smoke").iterdir() if p.name.startswith(".tmp-")]

    again = start_run(sleepy, nap="0")
    out, err = again.communicate(timeout=600)  # a safety net: it returns when the run ends
    assert again.returncode == 0, err[-2000:]
    assert "00_sleepy: found runs/smoke/00_sleepy.interrupted.ipynb, the partly executed copy an interrupted " \
           "run left" in err
    assert (sleepy / "runs" / "smoke" / "00_sleepy.ipynb").exists()
    assert not partial.exists()  # the finished run replaces it: the next one finds nothing


def test_interrupted_run_names_the_notebooks_that_finished(scratch_home, monkeypatch, capsys):
    make_notebook(scratch_home / "notebooks" / "00_quick.ipynb", "x = 1")
    make_notebook(scratch_home / "notebooks" / "01_slow.ipynb", "x = 2")
    real = runner.execute

    def interrupted_second(path, profile, **kwargs):
        if path.stem == "01_slow":
            err = runner.Interrupted("SIGTERM stopped 01_slow.ipynb in code cell 1 of 1", signal.SIGTERM)
            err.notebook = nbformat.read(path, as_version=4)
            raise err
        return real(path, profile, **kwargs)
    monkeypatch.setattr(runner, "execute", interrupted_second)
    assert cli.main(["run", "--profile", "smoke"]) == 143
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert message == ("fmnist: interrupted: SIGTERM stopped 01_slow.ipynb in code cell 1 of 1; its partly "
                       "executed copy is runs/smoke/01_slow.interrupted.ipynb; finished before it: 00_quick. "
                       "Run the same command again to start over.")
    assert (scratch_home / "runs" / "smoke" / "00_quick.ipynb").exists()
    assert (scratch_home / "runs" / "smoke" / "01_slow.interrupted.ipynb").exists()


def test_run_restores_the_signal_handlers_it_found(scratch_home):
    make_notebook(scratch_home / "notebooks" / "00_quick.ipynb", "x = 1")
    before = {sig: signal.getsignal(sig) for sig in runner.EXIT_CODES}
    runner.run("smoke", folder=scratch_home / "notebooks")
    assert {sig: signal.getsignal(sig) for sig in runner.EXIT_CODES} == before


def test_a_plain_ctrl_c_elsewhere_still_exits_130(monkeypatch, capsys):
    def interrupted(**kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(runner, "run", interrupted)
    assert cli.main(["run", "--profile", "smoke"]) == 130
    assert capsys.readouterr().err == "fmnist: interrupted; finished notebooks and results were kept.\n"
