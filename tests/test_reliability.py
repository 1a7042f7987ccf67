"""Faults a user meets: interrupted writes, malformed registries, unreadable data, stray files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fmnist.series import cli
from fmnist.learn import data, registry
from fmnist import paths
from fmnist.errors import DataError, FmnistError

REPO = Path(__file__).resolve().parents[1]


# --- atomic writes leave nothing behind --------------------------------------------------------

@pytest.mark.parametrize("fault", [RuntimeError, KeyboardInterrupt, SystemExit])
def test_a_failed_or_interrupted_atomic_write_removes_its_temporary_file(scratch_home, fault):
    target = scratch_home / "models" / "smoke" / "02_x.keras"
    target.parent.mkdir(parents=True)
    target.write_text("previous")
    with pytest.raises(fault):
        with paths.atomic_path(target) as tmp:
            assert tmp.name.startswith(paths.TEMP_PREFIX)
            tmp.write_text("half")
            raise fault()
    assert [p.name for p in target.parent.iterdir()] == ["02_x.keras"]
    assert target.read_text() == "previous"


CRASH = """
import os, sys
from fmnist import paths
with paths.atomic_path(sys.argv[1]) as tmp:
    tmp.write_text("half")
    os._exit(9)  # a hard crash: no finally runs
"""


def test_temporary_files_of_a_crash_are_git_ignored_and_not_collected(tmp_path):
    """A hard crash leaves the temporary file; git must not show it, and pytest must not collect it."""
    repo = tmp_path / "clone"
    shutil.copytree(REPO, repo, ignore=shutil.ignore_patterns(".venv", "runs", "cache", "logs", ".git",
                                                             "figures", "*.keras", "data"))
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "FMNIST_HOME": str(repo)}
    left = []
    for target in ("models/full/04_regularisation.keras", "results/full.json", "notebooks/02_low_capacity_convnet.ipynb"):
        (repo / target).parent.mkdir(parents=True, exist_ok=True)
        crashed = subprocess.run([sys.executable, "-c", CRASH, str(repo / target)], env=env)
        assert crashed.returncode == 9
        left += [p for p in (repo / target).parent.iterdir() if p.name.startswith(paths.TEMP_PREFIX)]
    assert len(left) == 3
    status = subprocess.run(["git", "status", "--porcelain", "--ignored=no", "--untracked-files=all"],
                            cwd=repo, capture_output=True, text=True, check=True).stdout
    assert paths.TEMP_PREFIX not in status
    (repo / "notebooks" / ".02_low_capacity_convnet.abc.ipynb").write_text("{half a notebook")  # an older name
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "notebooks",
                                "-p", "no:cacheprovider"], cwd=repo, env=env, capture_output=True, text=True)
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    assert ".tmp-" not in collected.stdout and ".02_low" not in collected.stdout


# --- malformed registries ------------------------------------------------------------------------

@pytest.mark.parametrize("content, what", [
    (b"[]", r"a JSON list instead of an object"),
    (b"null", r"a JSON null instead of an object"),
    (b'"text"', r"a JSON str instead of an object"),
    (b'{"records": {}}', r"'records' is not a list"),
    (b'{"records": [{}]}', r"records entry 1 has no 'stage', 'model', 'split', 'accuracy'"),
    (b'{"records": [7]}', r"records entry 1 is not an object"),
    (b'{"records": [{"stage": "s", "model": "m", "split": "validation", "accuracy": 0.5}]}',
     r"records entry 1 has an accuracy without 'mean' and 'values'"),
    (b'{"runs": [{"stage": "s"}]}', r"runs entry 1 has no 'seconds', 'status', 'time'"),
    (b"\xff\xfe{}", r"not UTF-8 text"),
    (b"{not json", r"not valid JSON"),
])
def test_a_malformed_registry_is_one_line_with_the_right_path(scratch_home, capsys, content, what):
    target = paths.results_file("full")
    target.parent.mkdir(parents=True)
    target.write_bytes(content)
    with pytest.raises(FmnistError, match=what):
        registry.read("full")
    assert cli.main(["report", "--profile", "full"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fmnist: error: ")
    assert "`git checkout -- results/full.json`" in err and "delete results/full.json" in err


# --- unreadable data -----------------------------------------------------------------------------

def _as_unprivileged(script: str, env: dict) -> subprocess.CompletedProcess:
    """Run `script` as a user without CAP_DAC_OVERRIDE (root ignores file modes); skip if impossible."""
    if os.geteuid() != 0:
        return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    setpriv = shutil.which("setpriv")
    if not setpriv:
        pytest.skip("running as root without setpriv: cannot drop the right to read any file")
    prefix = [setpriv, "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"]
    command = prefix + [sys.executable, "-c", script]
    probe = subprocess.run(prefix + ["true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"setpriv cannot drop capabilities here: {probe.stderr.decode()[:200]}")
    return subprocess.run(command, env=env, capture_output=True, text=True)


LOAD = """
import sys
from fmnist.series import cli
sys.exit(cli.main(["data"]))
"""


@pytest.mark.parametrize("what", ["folder", "file"])
def test_unreadable_data_says_permission_denied_not_corrupt(tiny_dataset, what):
    folder, _ = tiny_dataset
    victim = folder if what == "folder" else folder / (data.FILES["train_images"].name + ".gz")
    mode = victim.stat().st_mode
    victim.chmod(0)
    try:
        env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "FMNIST_DATA_DIR": str(folder)}
        # the tiny files' hashes are patched into this process only; the child just has to fail on reading
        done = _as_unprivileged(LOAD, env)
    finally:
        victim.chmod(mode)
    assert done.returncode == 1, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert "permission denied" in line and "corrupt" not in line and "Delete" not in line
    assert str(victim) in line and "chmod" in line


def test_permission_errors_are_reported_in_process(tiny_dataset, monkeypatch):
    """The same messages without a second user: the OS refusal simulated where the loader reads."""
    folder, _ = tiny_dataset

    is_file = Path.is_file

    def refuse(self, *args, **kwargs):
        if str(self).startswith(str(folder)):
            raise PermissionError(13, "Permission denied", str(self))
        return is_file(self)

    monkeypatch.setattr(Path, "is_file", refuse)
    with pytest.raises(DataError, match=r"permission denied.*chmod"):
        data.load()
    monkeypatch.undo()
    monkeypatch.setenv("FMNIST_DATA_DIR", str(folder))
    monkeypatch.setattr("builtins.open", lambda *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied")))
    with pytest.raises(DataError, match=r"permission denied") as info:
        data.read_bytes(folder / "x.gz")
    assert "corrupt" not in str(info.value)
