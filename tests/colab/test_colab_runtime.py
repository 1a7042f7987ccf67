"""The Colab leg of `make test`: notebooks opened from their badges in a simulated Colab runtime.

The runtime (tests/colab/colab_runtime.py) has Colab's Python and Colab's published package versions
(.ci/colab/pip-freeze.txt, built into .venv-colab), a stand-in ``google.colab`` module in its kernels,
an empty working folder, and git pointed at a bare clone of this working tree. Each notebook gets a
fresh runtime and runs unmodified: its own setup cell fetches the repository and installs what Colab
lacks. The leg proves that the setup cell works there and stays quiet, that 00 and 02 run in smoke
(02 runs 01 first), that 06 runs in full on the committed models and reproduces their recorded test
accuracy, that `fmnist predict` works with notebook 04's and 05's models, and that every committed
model predicts the probe batch as recorded (tests/model_probes.py), all in Colab's Keras.

It cannot prove what only Colab has: its GPU runtime, its front end, and Keras' own downloads of the
dataset and ImageNet weights (here the dataset comes from Debian's package when installed).
Run with `make test-colab`; the other legs deselect it (`-m "not colab"`).
"""

from __future__ import annotations

import json
import re
import time

import nbformat
import pytest
from PIL import Image

from colab_runtime import (REPO, Runtime, bare_clone_of_working_tree, colab_venv, noise, outputs_text, python_of,
                           setup_cell_index)

pytestmark = pytest.mark.colab

NOTEBOOKS = REPO / "notebooks"


@pytest.fixture(scope="module")
def venv():
    return colab_venv()


@pytest.fixture(scope="module")
def colab_versions(venv):
    """Colab's versions of what the setup cell prints, as .ci/colab/pip-freeze.txt pins them."""
    pins = dict(re.findall(r"(?m)^(keras|tensorflow|numpy)==(\S+)$", (REPO / ".ci/colab/pip-freeze.txt").read_text()))
    return {**pins, "python": python_of(venv)}


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    return bare_clone_of_working_tree(tmp_path_factory.mktemp("origin"))


@pytest.fixture
def runtime(tmp_path, venv, bare):
    return Runtime(tmp_path, venv, bare)


def timed(label: str, work):
    """`work()`, its time printed (make test-colab runs with --durations=0, which lists every test's time)."""
    start = time.perf_counter()
    try:
        return work()
    finally:
        print(f"{label}: {time.perf_counter() - start:.0f} s")


def check_setup(runtime: Runtime, nb, versions: dict, profile: str) -> str:
    """What every notebook's setup cell must have done on Colab; returns its stored text."""
    text = outputs_text(nb, setup_cell_index(nb))
    assert "Installing what this runtime lacks: keras-tuner" in text, text
    assert f"Profile: {profile}" in text, text
    assert (f"python {versions['python']}" in text and f"keras {versions['keras']}" in text
            and f"tensorflow {versions['tensorflow']}" in text), text
    assert noise(nb) == [], noise(nb)
    here = runtime.installed_here()
    # the clone (editable, without dependencies) and what Colab lacks; Colab's own libraries untouched
    assert "fmnist" in here and "keras-tuner" in here, here
    assert not {"tensorflow", "keras", "numpy", "ipykernel"} & set(here), here
    return text


def test_the_setup_cell_and_notebook_00_in_smoke(runtime, colab_versions):
    nb, _ = timed("00 (smoke)", lambda: runtime.execute(NOTEBOOKS / "00_problem_and_data.ipynb", "smoke"))
    check_setup(runtime, nb, colab_versions, "smoke")
    assert (runtime.clone / "src" / "fmnist").is_dir()
    # `!fmnist ...` works in a cell: the console script of the clone's install
    done = runtime.run("fmnist", "report", "--profile", "full", "--format", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)


def test_notebook_02_alone_runs_01_first(runtime, colab_versions):
    nb, _ = timed("02 (smoke, 01 first)", lambda: runtime.execute(NOTEBOOKS / "02_low_capacity_convnet.ipynb", "smoke"))
    text = check_setup(runtime, nb, colab_versions, "smoke")
    assert "02_low_capacity_convnet builds on 01_baseline: running it first in the smoke profile." in text
    assert (runtime.clone / "models" / "smoke" / "01_baseline.keras").is_file()
    assert (runtime.clone / "models" / "smoke" / "02_low_capacity_convnet.keras").is_file()
    assert not (runtime.clone / "notebooks" / runtime.clone.name).exists(), "01's kernel fetched the repository again"


@pytest.fixture(scope="module")
def full_06(tmp_path_factory, venv, bare):
    """Notebook 06 in full (Colab's default profile) on the committed models; the runtime and what it stored."""
    runtime = Runtime(tmp_path_factory.mktemp("colab-06"), venv, bare)
    try:
        nb, failure = timed("06 (full)", lambda: runtime.execute(NOTEBOOKS / "06_final_evaluation.ipynb")), None
    except AssertionError as exc:
        nb, failure = None, str(exc)
    return runtime, nb, failure


def test_notebook_06_in_full_on_the_committed_models(full_06, colab_versions):
    """06 loads every committed model in Colab's Keras and records the test accuracies already committed."""
    runtime, executed, failure = full_06
    assert failure is None, failure
    nb, _ = executed
    check_setup(runtime, nb, colab_versions, "full")
    key = lambda record: (record["stage"], record["model"])  # noqa: E731
    committed = {key(r): r for r in json.loads((REPO / "results" / "full.json").read_text())["records"]
                 if r["split"] == "test"}
    started = json.loads((REPO / "results" / "full.json").read_text())  # the clone's registry began as this one
    before = {json.dumps(r, sort_keys=True) for r in started["records"]}
    written = [r for r in json.loads((runtime.clone / "results" / "full.json").read_text())["records"]
               if r["split"] == "test" and json.dumps(r, sort_keys=True) not in before]
    stages = {r["stage"] for r in written}
    assert {"01_baseline", "02_low_capacity_convnet", "03_overfit", "04_regularisation",
            "05_transfer_learning"} <= stages, f"06 recorded test results for {sorted(stages)} only"
    different = {key(r): (committed[key(r)]["accuracy"]["mean"], r["accuracy"]["mean"]) for r in written
                 if key(r) in committed and r["accuracy"] != committed[key(r)]["accuracy"]}
    assert not different, f"test accuracy in Colab's Keras (committed, here): {different}"


@pytest.mark.parametrize("stage", ["04_regularisation", "05_transfer_learning"])
def test_fmnist_predict_with_the_committed_models(full_06, stage, real_data, tmp_path):
    runtime = full_06[0]
    assert (runtime.clone / "models" / "full" / f"{stage}.keras").is_file(), "the setup cell did not fetch the models"
    _, (x_test, y_test) = real_data
    from fmnist.learn.data import CLASS_NAMES

    images = []
    for i in (0, 1, 2):  # test images in the dataset's form, and one as a photo: dark item on white, 240 px
        images.append(tmp_path / f"test{i}.png")
        Image.fromarray(x_test[i]).save(images[-1])
    photo = Image.fromarray(255 - x_test[2]).resize((240, 240), Image.Resampling.LANCZOS).convert("RGB")
    images.append(tmp_path / "photo.jpg")
    photo.save(images[-1], quality=90)
    done = timed(f"fmnist predict ({stage})", lambda: runtime.run(
        "fmnist", "predict", *map(str, images), "--model", f"models/full/{stage}.keras", "--json"))
    assert done.returncode == 0, done.stderr[-4000:]
    results = json.loads(done.stdout)
    assert [r["top"][0]["class"] for r in results[:3]] == [CLASS_NAMES[y] for y in y_test[:3]], results
    assert "top" in results[3], results


def test_every_committed_model_predicts_as_recorded_in_colabs_keras(full_06):
    runtime = full_06[0]
    done = timed("model probes", lambda: runtime.run(str(runtime.python), "tests/model_probes.py", "--check"))
    assert done.returncode == 0, (done.stdout + done.stderr)[-6000:]
    assert "as recorded" in done.stdout


def test_an_unreachable_repository_is_one_line_saying_what_to_do(runtime):
    from fmnist.series import opening

    address = f"file://{runtime.root}/no-such-repository"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(opening.setup_cell("02_low_capacity_convnet", address))]
    notebook = runtime.root / "alone" / "02_low_capacity_convnet.ipynb"
    notebook.parent.mkdir()
    nbformat.write(nb, notebook)
    with pytest.raises(AssertionError) as failed:
        runtime.execute(notebook, "smoke", timeout=300)
    assert (f"SystemExit: Could not fetch {address}: connect the runtime to the internet (or fix REPOSITORY), "
            f"then run this cell again.") in str(failed.value)

