"""Seed spread, per-seed models, the test history and the small-protocol table of the final evaluation."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fmnist
from fmnist.learn import references, registry, saved_models, stats, test_history
from fmnist.learn.stats import EvaluationError, seed_spread


def test_seed_spread_is_mean_and_sample_sd_over_seeds():
    y = np.arange(100) % 10
    right, half = y.copy(), np.where(np.arange(100) < 50, y, (y + 1) % 10)
    spread = seed_spread(y, {0: right, 1: half})
    assert spread["accuracies"] == {0: 1.0, 1: 0.5} and spread["n"] == 2
    assert spread["mean"] == pytest.approx(0.75) and spread["std"] == pytest.approx(np.std([1, 0.5], ddof=1))
    assert seed_spread(y, {3: right})["std"] == 0.0
    with pytest.raises(EvaluationError, match="at least one"):
        seed_spread(y, {})
    with pytest.raises(EvaluationError, match="Lengths differ"):
        seed_spread(y, {0: right[:10]})


def test_seed_record_pairs_with_the_decision_rule():
    from fmnist.learn import decisions

    y = np.arange(100) % 10
    right = np.eye(10)[y]  # probabilities that are right on every image
    wrong_half = np.eye(10)[np.where(np.arange(100) < 50, y, (y + 1) % 10)]
    ensemble = stats.seed_record("ensemble", y, {1: right, 0: right})
    single = stats.seed_record("single", y, {0: wrong_half, 1: np.where(np.arange(100)[:, None] < 60, right, wrong_half)})
    assert ensemble["seeds"] == [0, 1] and ensemble["accuracy"]["values"] == [1.0, 1.0]
    assert single["accuracy"]["values"] == [0.5, 0.6] and single["extra"]["validation_images"] == 100
    assert stats.seed_record("labels", y, {0: y})["accuracy"]["mean"] == 1.0  # predicted labels work too
    verdict = decisions.compare(ensemble, single)
    assert verdict.kept and verdict.seeds == (0, 1) and verdict.difference == pytest.approx(0.45)


def test_missing_seed_models_are_one_line_not_an_error(scratch_home, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    models, message = saved_models.load_seed_models("04_regularisation", profile="smoke")
    assert models == {} and "no per-seed models" in message and "\n" not in message
    folder = saved_models.seed_models_dir("04_regularisation", "smoke")
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps({"files": {"0": "seed0.keras"}}))
    models, message = saved_models.load_seed_models("04_regularisation", profile="smoke")
    assert models == {} and "seed0.keras" in message


def test_seed_models_are_saved_slim_and_load_back(scratch_home, monkeypatch):
    import keras

    from fmnist.learn.session import start
    from fmnist.learn.training import FitResult

    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    start("04_regularisation")  # the session alone: setup() would first run the notebooks 04 builds on
    built = []
    for seed in (0, 1):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(np.zeros((4, 4)), np.zeros(4), verbose=0)
        built.append(model)
    result = FitResult(name="final", seeds=[0, 1], val_accuracy=[0.5, 0.6], models=built)
    folder = saved_models.save_seed_models(result)
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "seed0.keras", "seed1.keras"]
    models, message = saved_models.load_seed_models("04_regularisation", profile="smoke")
    assert sorted(models) == [0, 1] and "2 per-seed models" in message
    x = np.random.default_rng(0).random((3, 4))
    np.testing.assert_allclose(models[1].predict(x, verbose=0), built[1].predict(x, verbose=0), rtol=1e-6)
    assert getattr(models[0], "optimizer", None) is None  # saved without optimizer state
    with pytest.raises(EvaluationError, match="fit it in this session"):
        saved_models.save_seed_models(FitResult(name="final", seeds=[0], val_accuracy=[0.5]))


def test_history_lists_superseded_tests_and_why_the_numbers_changed(tmp_path):
    path = tmp_path / "r.json"
    registry.record("05_transfer_learning", "best", "test", 0.9207, 0.24, profile="smoke", path=path,
                    extra={"model_sha256": "a" * 64})
    registry.record("05_transfer_learning", "best", "test", 0.9343, 0.28, profile="smoke", path=path,
                    extra={"model_sha256": "b" * 64})
    history = test_history.frame(registry.read("smoke", path))
    assert list(history.columns) == test_history.COLUMNS
    assert list(history["accuracy"]) == [0.9207, 0.9343]
    assert list(history["status"]) == ["superseded", "current"]
    assert list(history["why the number changed"]) == ["first test", test_history.RELEASE["05_transfer_learning"]]


def test_history_merges_earlier_tests_kept_outside_the_registry(tmp_path):
    """A release starts from an empty registry: the evaluations before it come from EARLIER, and a model
    tested again with the same weights is one evaluation, not a second look."""
    path = tmp_path / "r.json"
    earlier = test_history.EARLIER["full"]
    same = next(t for t in earlier if t.stage == "01_baseline")
    registry.record("01_baseline", "dense", "test", same.accuracy, profile="full", path=path,
                    extra={"model_sha256": same.sha256 + "0" * 52})
    registry.record("05_transfer_learning", "best_transfer", "test", 0.945, profile="full", path=path,
                    extra={"model_sha256": "c" * 64})
    history = test_history.frame(registry.read("full", path))
    baseline = history[history["stage"] == "01_baseline"]
    assert len(baseline) == 1 and list(baseline["status"]) == ["current"] and list(baseline["model"]) == [same.model]
    transfer = history[history["stage"] == "05_transfer_learning"]
    assert list(transfer["evaluation"]) == [1, 2, 3, 4]
    assert list(transfer["status"]) == ["superseded"] * 3 + ["current"]
    assert transfer["why the number changed"].iloc[-1] == test_history.RELEASE["05_transfer_learning"]
    untested_now = history[history["stage"] == "03_overfit"]
    assert set(untested_now["status"]) == {"superseded"}


def test_small_protocol_table_has_intervals_and_says_what_is_outside():
    low, high = references.binomial_interval(0.9, 2000)
    assert low < 0.9 < high and high - low == pytest.approx(2 * 1.96 * (0.9 * 0.1 / 2000) ** 0.5, rel=0.02)
    data = {"records": [
        {"stage": "01_baseline", "split": "test", "accuracy": {"mean": 0.858}, "extra": {"test_images": 2000}},
        {"stage": "02_low_capacity_convnet", "split": "test", "accuracy": {"mean": 0.8275},
         "extra": {"test_images": 2000, "verdicts": {"01_baseline": {"verdict": "worse", "p_value": 0.003}}}}]}
    table = references.small_protocol_markdown(data)
    assert "| 01_baseline | 0.750 | 0.8580 |" in table and "| yes |" in table
    assert "| no | worse (p = 0.003) |" in table
    with pytest.raises(ValueError):
        references.binomial_interval(1.2, 10)
