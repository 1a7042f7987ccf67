"""Shared test setup: the smoke profile, tiny IDX files, and nbval's comparison rules."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

# Everything the tests execute (notebooks included, whose kernels inherit this) runs in smoke.
os.environ.setdefault("FMNIST_PROFILE", "smoke")

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _profile_stays_put(monkeypatch):
    """fmnist.setup() writes its profile back to $FMNIST_PROFILE (a notebook's later calls and the
    notebooks it runs must agree); a test that starts a session must not leave it for the next one."""
    monkeypatch.setenv("FMNIST_PROFILE", os.environ.get("FMNIST_PROFILE", "smoke"))


def pytest_collection_modifyitems(items):
    """nbval: leave stderr and HTML out of output comparison (they vary with library versions),
    check every executed cell's fresh outputs as committed ones are (tests/output_checks.py), and
    record each notebook that ran through in the runs table, as `fmnist run` does."""
    notebooks: dict = {}
    for item in items:
        parent = getattr(item, "parent", None)
        if parent is not None and hasattr(parent, "skip_compare"):
            if "stderr" not in parent.skip_compare:
                parent.skip_compare = tuple(parent.skip_compare) + ("stderr", "text/html")
            if hasattr(item, "test_outputs"):
                item.runtest = _checking_outputs(item)
                notebooks.setdefault(parent, []).append(item)
    for notebook, cells in notebooks.items():
        _recording_the_run(notebook, cells)


def _checking_outputs(item):
    """nbval's runtest for one cell, then the checks of tests/output_checks.py on what it printed.

    (A hook here would not reach notebooks/: pytest gives a conftest's per-item hooks only to the
    items under its folder, so the check wraps the cell's runtest at collection instead.)"""
    original = item.runtest

    def runtest():
        original()
        from output_checks import problems

        found = problems(item.test_outputs or [], item.name)
        if found:
            raise AssertionError("fresh output breaks the rules for stored outputs:\n" + "\n".join(found))
    return runtest


def _recording_the_run(notebook, cells) -> None:
    """Record the notebook's run when every cell of it ran without an error, as `fmnist run` records one.

    `make test` executes every notebook here, not through the runner; unrecorded, those runs left
    `fmnist run`'s plan saying "no earlier run on this kind of machine" for notebooks it had just run.
    The wall time counts from the kernel's start, as the runner's does.
    """
    from fmnist.series import runner

    if not runner.NOTEBOOK_NAME.match(Path(str(notebook.fspath)).name):
        return
    state = {"ran": 0, "failed": False}
    setup, teardown = notebook.setup, notebook.teardown

    def timed_setup():
        state["start"] = time.perf_counter()
        setup()

    def recording_teardown():
        if "start" in state and state["ran"] == len(cells) and not state["failed"]:
            from fmnist.learn.profiles import get_profile

            ended = time.perf_counter()
            outputs = SimpleNamespace(cells=[{"outputs": cell.test_outputs or []} for cell in cells])
            runner.record_run(Path(str(notebook.fspath)).stem, ended - state["start"], "ok", get_profile().name,
                              outputs, runner.code_commit())
        teardown()

    def counted(runtest):
        def run():
            try:
                runtest()
            except pytest.skip.Exception:
                raise
            except BaseException:
                state["failed"] = True
                raise
            finally:
                state["ran"] += 1
        return run

    notebook.setup, notebook.teardown = timed_setup, recording_teardown
    for cell in cells:
        cell.runtest = counted(cell.runtest)


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of a uint8 array (magic 0x0000080<rank>, big-endian sizes)."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    raw = idx_bytes(array)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(raw))
    else:
        path.write_bytes(raw)
    return path


@pytest.fixture
def tiny_dataset(tmp_path, monkeypatch):
    """A folder with four tiny, valid IDX files, and fmnist.learn.data.FILES pointed at their hashes."""
    import hashlib

    from fmnist.learn import data

    rng = np.random.default_rng(0)
    arrays = {
        "train_images": rng.integers(0, 256, (20, 28, 28)), "train_labels": np.arange(20) % 10,
        "test_images": rng.integers(0, 256, (10, 28, 28)), "test_labels": np.arange(10) % 10,
    }
    folder = tmp_path / "fmnist-data"
    folder.mkdir()
    specs = {}
    for key, array in arrays.items():
        name = data.FILES[key].name
        write_idx(folder / name, array)
        specs[key] = data.IdxFile(name, tuple(np.shape(array)), hashlib.sha256(idx_bytes(array)).hexdigest())
    monkeypatch.setattr(data, "FILES", specs)
    monkeypatch.setenv("FMNIST_DATA_DIR", str(folder))
    return folder, arrays


@pytest.fixture
def scratch_home(tmp_path, monkeypatch):
    """A throwaway repository root, so tests never write into the real figures/, results/ or runs/."""
    home = tmp_path / "home"
    (home / "notebooks").mkdir(parents=True)
    (home / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    monkeypatch.setenv("FMNIST_HOME", str(home))
    return home


@pytest.fixture
def offline_weights(monkeypatch):
    """Offline ImageNet weights where fmnist.learn.weights finds them ($FMNIST_WEIGHTS_DIR, else the
    repository's models/imagenet/): skipped without them, failed in CI (.ci/run puts them there)."""
    from fmnist.learn import weights

    monkeypatch.setenv("FMNIST_HOME", str(REPO))
    folder = os.environ.get("FMNIST_WEIGHTS_DIR") or weights.default_dir()
    if not any(Path(folder).glob("*.h5")):
        if os.environ.get("CI"):
            pytest.fail(f"CI must provide offline ImageNet weights in {weights.DEFAULT_DIR}/ (.ci/run links them)")
        pytest.skip(f"no offline ImageNet weights in {folder}")


@pytest.fixture(scope="session")
def real_data():
    """The genuine dataset: skipped where it is not installed, a failure in CI (.ci/run installs it)."""
    from fmnist.learn import data
    from fmnist.errors import DataError

    try:
        return data.load()
    except DataError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"real Fashion-MNIST missing in CI: {exc}")
        pytest.skip(f"real Fashion-MNIST not available here: {exc}")


def learnable_split(stage: str):
    """Start a smoke session for `stage` and return 150 training / 50 validation images with one
    bright 3x3 patch per class: a signal a tiny model learns in an epoch or two on every backend
    (a single pixel was too faint for PyTorch's initial weights)."""
    import fmnist
    from fmnist.learn.profiles import Split, SplitIndices

    fmnist.setup(stage, quiet=True)
    rng = np.random.default_rng(0)
    y = np.arange(200) % 10
    x = rng.random((200, 28, 28, 1)).astype("float32") * 0.2
    for dy in range(3):
        for dx in range(3):
            x[np.arange(200), 2 * y + dy, 2 * y + dx, 0] = 1.0
    return Split(x[:150], y[:150], x[150:], y[150:], SplitIndices(np.arange(150), np.arange(50), np.array([], dtype=int)))


def backdate_records(profile: str, when: str = "2026-01-01T00:00:00+00:00") -> None:
    """Make every record of a profile's registry look as if an earlier run had written it."""
    from fmnist.learn import registry

    data = registry.read(profile)
    for entry in data["records"]:
        entry["time"] = when
    registry.write(data, profile)

