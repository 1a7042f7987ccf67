"""fmnist.learn.references (published numbers as data) and the final evaluation's plots and neighbours."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import fmnist  # noqa: E402
from fmnist.learn import plots, references, saved_models, stats  # noqa: E402
from fmnist.learn.stats import EvaluationError  # noqa: E402


@pytest.fixture
def stage(scratch_home, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    fmnist.setup("96_diagnostics_test", quiet=True)
    return scratch_home / "figures" / "smoke" / "96_diagnostics_test"


def test_references_hold_the_documented_numbers_with_sources():
    table = references.frame()
    by_name = dict(zip(table["name"], table["accuracy"]))
    assert by_name["Human Performance (crowd-sourced, no fashion expertise)"] == 0.835
    assert by_name["VGG16 26M parameters"] == 0.935
    for name, accuracy in (("Google AutoML (24 compute hours)", 0.939), ("MobileNet (horizontal flips)", 0.950),
                           ("DenseNet-BC 768K params", 0.954), ("WRN40-4 8.9M params", 0.967)):
        assert by_name[name] == accuracy
    human = table.set_index("name").loc["Human Performance (crowd-sourced, no fashion expertise)"]
    assert "1,000" in human["protocol"]
    darts = table[table["name"].str.contains("DARTS")].iloc[0]
    assert darts["kind"] == "paper" and "not in the benchmark table" in darts["name"]
    tutorial = table[table["name"].str.contains("deep CNN tutorial")].iloc[0]
    assert "one test score" in tutorial["protocol"]
    for _, block in table.groupby("kind", sort=False):  # sorted within a kind, never across kinds
        assert list(block["accuracy"]) == sorted(block["accuracy"])
    assert all(r.source and r.protocol and r.kind in references.KINDS for r in references.REFERENCES)
    assert set(references.frame(minimum=0.95)["accuracy"]) <= {0.835} | {a for a in by_name.values() if a >= 0.95}
    assert sorted(references.SMALL_PROTOCOL.values()) == [0.750, 0.816, 0.836, 0.845, 0.852, 0.875]


def test_confusion_plot_is_saved_with_class_names(stage):
    y = np.arange(100) % 10
    fig = plots.plot_confusion(y, np.roll(y, 1), "confusion_test")
    assert (stage / "confusion_test.png").is_file()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0] == "T-shirt/top" and labels[-1] == "Ankle boot"


def test_gallery_reliability_and_reference_plots_are_saved(stage):
    plots.plot_gallery(np.random.default_rng(0).random((5, 28, 28, 1)), list("abcde"), "gallery_test")
    y = np.arange(100) % 10
    probs = np.full((100, 10), 0.05)
    probs[np.arange(100), y] = 0.55
    table = stats.reliability(y, probs)
    plots.plot_reliability(table, stats.expected_calibration_error(y, probs), "reliability_test")
    plots.plot_references([{"label": "ours", "accuracy": 0.94, "low": 0.935, "high": 0.945}], references.frame(),
                          "references_test")
    assert {p.name for p in stage.iterdir()} >= {"gallery_test.png", "reliability_test.png", "references_test.png"}


def test_reliability_bin_counts_never_print_over_each_other(stage):
    """A confident model fills its last two bins, a few hundredths of confidence apart: written beside the
    points, 06's counts of 5,612 and 1,544 images ran together into one number."""
    import pandas as pd

    confidence = [0.25, 0.31, 0.37, 0.44, 0.50, 0.57, 0.63, 0.70, 0.77, 0.84, 0.905, 0.95]
    table = pd.DataFrame({"bin": [int(c * 15) for c in confidence], "confidence": confidence,
                          "accuracy": [0.0, 0.48, 0.39, 0.47, 0.53, 0.67, 0.73, 0.8, 0.88, 0.95, 0.99, 0.99],
                          "count": [5, 33, 79, 204, 265, 225, 256, 329, 474, 974, 5612, 1544]})
    fig = plots.plot_reliability(table, 0.08, "reliability_counts")
    fig.canvas.draw()
    labels = [t for ax in fig.axes for t in ax.texts if t.get_text().strip().replace(",", "").isdigit()]
    assert sorted(int(t.get_text().replace(",", "")) for t in labels) == sorted(table["count"])
    boxes = [t.get_window_extent(fig.canvas.get_renderer()) for t in labels]
    crossing = [(a.get_text(), b.get_text()) for i, a in enumerate(labels) for j, b in enumerate(labels)
                if i < j and boxes[i].overlaps(boxes[j])]
    assert crossing == []


def test_gallery_needs_images(stage):
    with pytest.raises(ValueError, match="at least one image"):
        plots.plot_gallery(np.zeros((0, 28, 28, 1)), [], "empty")


def test_nearest_neighbours_finds_the_same_image_first():
    pool = np.random.default_rng(0).random((50, 28, 28, 1)).astype("float32")
    found = stats.nearest_neighbours(pool[[3, 7]], pool, k=2)
    assert found.shape == (2, 2) and list(found[:, 0]) == [3, 7]


def test_nearest_neighbours_errors_are_clear():
    pool = np.zeros((2, 28, 28, 1))
    with pytest.raises(EvaluationError, match="fewer than k=3"):
        stats.nearest_neighbours(pool[:1], pool, k=3)
    with pytest.raises(EvaluationError, match="differ in shape"):
        stats.nearest_neighbours(np.zeros((1, 32, 32, 1)), pool, k=1)


def test_compare_models_marks_a_clearly_better_model_and_its_interval():
    y = np.arange(1000) % 10
    weak = np.where(np.arange(1000) % 2 == 0, y, (y + 1) % 10)  # 50% right
    strong = np.where(np.arange(1000) % 10 == 0, (y + 1) % 10, y)  # 90% right
    same = strong.copy()
    table = stats.compare_models(y, {"weak": weak, "strong": strong, "same": same}, baseline="weak")
    assert list(table["accuracy"]) == pytest.approx([0.5, 0.9, 0.9])
    assert list(table["vs baseline"]) == ["", "better", "better"]
    assert list(table["vs previous"]) == ["", "better", "no significant difference"]
    assert table["ci low"][1] < 0.9 < table["ci high"][1]
    worse = stats.compare_models(y, {"strong": strong, "weak": weak}, baseline="strong")
    assert worse["vs baseline"][1] == "worse"


def test_compare_models_needs_its_baseline():
    with pytest.raises(EvaluationError, match="baseline 'x' is not among"):
        stats.compare_models([0, 1], {"a": [0, 1]}, baseline="x")


def test_a_missing_stage_model_names_the_notebook_to_run(scratch_home):
    with pytest.raises(EvaluationError, match="fmnist run --profile smoke --only 04"):
        saved_models.load_stage_model("04_regularisation", profile="smoke")


def test_a_saved_stage_model_is_loaded_without_optimizer(scratch_home):
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(optimizer="adam", loss="mse")
    folder = scratch_home / "models" / "smoke"
    folder.mkdir(parents=True)
    model.save(folder / "01_baseline.keras")
    loaded = saved_models.load_stage_model("01_baseline", profile="smoke")
    assert loaded.count_params() == 7850 and getattr(loaded, "optimizer", None) is None


def test_a_transfer_model_with_a_label_smoothed_inner_model_loads_in_a_fresh_interpreter(scratch_home):
    """Notebook 05 saves the fine-tuned model (compiled with SmoothedSparseCrossentropy) nested in the
    full model; notebook 06 and `fmnist predict` load it in processes that never imported that loss."""
    import keras

    from fmnist.learn.losses import SmoothedSparseCrossentropy

    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, activation="softmax")])
    inner.compile(optimizer="adam", loss=SmoothedSparseCrossentropy(0.1))
    inputs = keras.Input((8,))
    outer = keras.Model(inputs, inner(keras.layers.Dense(4)(inputs)))
    folder = scratch_home / "models" / "smoke"
    folder.mkdir(parents=True)
    outer.save(folder / "05_transfer_learning.keras")
    code = ("import sys; from fmnist.learn import saved_models; "
            "m = saved_models.load_stage_model('05_transfer_learning', profile='smoke'); "
            "assert 'fmnist.learn.losses' in sys.modules; print(m.count_params())")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "FMNIST_HOME": str(scratch_home)}, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(outer.count_params())
