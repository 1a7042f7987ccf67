"""fmnist.learn.stats (bootstrap interval, McNemar, calibration, confusions) and fmnist.learn.prediction_cache."""

from __future__ import annotations

import json

import numpy as np
import pytest

import fmnist
from fmnist.learn import prediction_cache, stats
from fmnist.errors import FmnistError
from fmnist.learn.stats import EvaluationError


def predictions(n: int, accuracy: float, seed: int = 0):
    """Labels and predictions of which exactly round(n * accuracy) are right."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 10, n)
    y_pred = y_true.copy()
    wrong = rng.choice(n, n - round(n * accuracy), replace=False)
    y_pred[wrong] = (y_true[wrong] + 1) % 10
    return y_true, y_pred


# --- bootstrap_ci ---

def test_bootstrap_interval_contains_the_accuracy_and_narrows_with_more_images():
    widths = []
    for n in (100, 1000, 10000):
        y_true, y_pred = predictions(n, 0.9)
        low, high = stats.bootstrap_ci(y_true, y_pred)
        assert low < 0.9 < high
        widths.append(high - low)
    assert widths[0] > widths[1] > widths[2]
    # a binomial proportion's 95% interval is about +-1.96 sqrt(p(1-p)/n): 0.0118 wide at n = 10,000
    assert widths[2] == pytest.approx(2 * 1.96 * np.sqrt(0.9 * 0.1 / 10000), rel=0.1)


def test_bootstrap_interval_is_reproducible_and_level_widens_it():
    y_true, y_pred = predictions(500, 0.8)
    assert stats.bootstrap_ci(y_true, y_pred, seed=3) == stats.bootstrap_ci(y_true, y_pred, seed=3)
    low90, high90 = stats.bootstrap_ci(y_true, y_pred, level=0.90)
    low99, high99 = stats.bootstrap_ci(y_true, y_pred, level=0.99)
    assert low99 < low90 and high90 < high99


@pytest.mark.parametrize("kwargs, message", [
    ({"level": 95}, r"level must lie strictly between 0 and 1"),
    ({"level": 0}, r"level must lie strictly between 0 and 1"),
    ({"n_boot": 0}, r"n_boot must be a positive integer"),
])
def test_bootstrap_rejects_bad_settings(kwargs, message):
    y_true, y_pred = predictions(50, 0.8)
    with pytest.raises(EvaluationError, match=message):
        stats.bootstrap_ci(y_true, y_pred, **kwargs)


def test_labels_are_checked():
    y = np.arange(10)
    with pytest.raises(EvaluationError, match=r"Lengths differ \(y_true 10, y_pred 9\)"):
        stats.bootstrap_ci(y, y[:9])
    with pytest.raises(EvaluationError, match=r"pass probs\.argmax\(axis=1\)"):
        stats.bootstrap_ci(y, np.eye(10))
    with pytest.raises(EvaluationError, match=r"y_pred holds 1\.\.10; Fashion-MNIST class indices are 0-9"):
        stats.bootstrap_ci(y, np.arange(1, 11))
    with pytest.raises(EvaluationError, match=r"y_true is empty"):
        stats.bootstrap_ci([], [])
    with pytest.raises(EvaluationError, match=r"integer class indices, got dtype float64"):
        stats.bootstrap_ci(y, y.astype(float))


# --- mcnemar ---

def test_mcnemar_ten_discordant_pairs_all_one_way():
    y_true = np.zeros(30, dtype=int)
    pred_a = np.zeros(30, dtype=int)
    pred_b = pred_a.copy()
    pred_b[:10] = 1  # a right and b wrong on 10 images, both right on the rest
    result = stats.mcnemar(y_true, pred_a, pred_b)
    assert (result["b"], result["c"], result["statistic"]) == (10, 0, 0)
    assert result["p_value"] == pytest.approx(2 * 0.5 ** 10)  # 0.00195
    swapped = stats.mcnemar(y_true, pred_b, pred_a)
    assert (swapped["b"], swapped["c"]) == (0, 10) and swapped["p_value"] == pytest.approx(result["p_value"])


def test_mcnemar_balanced_or_identical_predictions_show_no_difference():
    y_true, y_pred = predictions(200, 0.7)
    assert stats.mcnemar(y_true, y_pred, y_pred) == {"b": 0, "c": 0, "statistic": 0, "p_value": 1.0}
    pred_a, pred_b = y_true.copy(), y_true.copy()
    pred_a[:5] = (y_true[:5] + 1) % 10      # a wrong, b right: c = 5
    pred_b[5:10] = (y_true[5:10] + 1) % 10  # a right, b wrong: b = 5
    pred_a[10:20] = pred_b[10:20] = (y_true[10:20] + 2) % 10  # both wrong: not counted
    result = stats.mcnemar(y_true, pred_a, pred_b)
    assert (result["b"], result["c"], result["p_value"]) == (5, 5, 1.0)


def test_mcnemar_checks_lengths():
    with pytest.raises(EvaluationError, match=r"Lengths differ \(y_true 3, pred_a 3, pred_b 2\)"):
        stats.mcnemar([0, 1, 2], [0, 1, 2], [0, 1])


# --- calibration ---

def probabilities(confidence: np.ndarray, correct: np.ndarray, seed: int = 0):
    """Probability rows with top probability `confidence`, whose top class is right where `correct`."""
    rng = np.random.default_rng(seed)
    n = len(confidence)
    predicted = rng.integers(0, 10, n)
    probs = np.repeat(((1 - confidence) / 9)[:, None], 10, axis=1)
    probs[np.arange(n), predicted] = confidence
    y_true = np.where(correct, predicted, (predicted + rng.integers(1, 10, n)) % 10)
    return y_true, probs


def test_calibrated_probabilities_have_almost_no_calibration_error():
    rng = np.random.default_rng(1)
    confidence = rng.uniform(0.2, 1.0, 50000)
    y_true, probs = probabilities(confidence, rng.random(50000) < confidence)
    assert stats.expected_calibration_error(y_true, probs) < 0.015


def test_overconfident_probabilities_have_a_large_calibration_error():
    rng = np.random.default_rng(2)
    confidence = np.full(5000, 0.99)
    y_true, probs = probabilities(confidence, rng.random(5000) < 0.7)
    assert stats.expected_calibration_error(y_true, probs) == pytest.approx(0.29, abs=0.02)


def test_reliability_table_bins_by_confidence():
    confidence = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
    correct = np.array([True, True, True, False, True, False])
    y_true, probs = probabilities(confidence, correct)
    table = stats.reliability(y_true, probs, bins=10)
    assert list(table.columns) == ["bin", "confidence", "accuracy", "count"]
    assert table["bin"].tolist() == [5, 9] and table["count"].tolist() == [2, 4]
    assert table["accuracy"].tolist() == [0.5, 0.75]
    assert table["confidence"].tolist() == pytest.approx([0.55, 0.95])
    ece = stats.expected_calibration_error(y_true, probs, bins=10)
    assert ece == pytest.approx((2 * 0.05 + 4 * 0.2) / 6)


def test_calibration_refuses_logits_and_wrong_shapes():
    y_true = np.arange(10)
    with pytest.raises(EvaluationError, match=r"must be probabilities .* apply keras\.ops\.softmax"):
        stats.expected_calibration_error(y_true, np.eye(10) * 5.0)
    with pytest.raises(EvaluationError, match=r"probs must have shape \(N, 10\)"):
        stats.reliability(y_true, np.ones((10, 3)) / 3)
    with pytest.raises(EvaluationError, match=r"Lengths differ"):
        stats.reliability(y_true[:5], np.eye(10))
    with pytest.raises(EvaluationError, match=r"bins must be a positive integer"):
        stats.reliability(y_true, np.eye(10), bins=0)


# --- most_confused_pairs ---

def test_most_confused_pairs_are_ordered_and_named():
    pairs = [(6, 0)] * 5 + [(0, 6)] * 3 + [(4, 2)] * 3 + [(9, 7)] * 1 + [(1, 1)] * 20
    y_true, y_pred = (np.array(v) for v in zip(*pairs))
    table = stats.most_confused_pairs(y_true, y_pred, k=3)
    assert list(table.columns) == ["true", "predicted", "count"]
    assert table.values.tolist() == [["Shirt", "T-shirt/top", 5], ["T-shirt/top", "Shirt", 3],
                                     ["Coat", "Pullover", 3]]  # ties in class order; diagonal left out
    assert len(stats.most_confused_pairs(y_true, y_pred, k=10)) == 4  # pairs never seen are left out
    with pytest.raises(EvaluationError, match=r"k must be a positive integer"):
        stats.most_confused_pairs(y_true, y_pred, k=0)


# --- predict_cached ---

class CountingModel:
    """Stands in for a Keras model: fixed probabilities, counts its predict() calls."""

    def __init__(self, version: int = 0):
        self.calls = 0
        self.version = version
        self.layers = ["dense"]

    def to_json(self):
        return json.dumps(self.layers)

    def get_weights(self):
        return [np.array([self.version], dtype=np.float32)]

    def predict(self, x, batch_size=None, verbose=None):
        self.calls += 1
        probs = np.zeros((len(x), 10), dtype=np.float32)
        probs[:, self.version % 10] = 1.0
        return probs


@pytest.fixture
def smoke_session(scratch_home, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    fmnist.setup("98_eval_test", quiet=True)
    return scratch_home


def test_predictions_are_cached_under_the_profile_and_reused(smoke_session, capsys):
    model, x = CountingModel(), np.random.default_rng(0).random((6, 28, 28, 1)).astype("float32")
    first = prediction_cache.predict_cached(model, x, "final_test")
    path = smoke_session / "cache" / "smoke" / "predictions" / "final_test.npy"
    assert path.is_file() and json.loads(path.with_suffix(".json").read_text())["rows"] == 6
    assert "computed (none cached yet) and saved to cache/smoke/predictions/final_test.npy" in capsys.readouterr().out
    second = prediction_cache.predict_cached(model, x, "final_test")
    assert model.calls == 1  # the second call did not ask the model
    np.testing.assert_array_equal(first, second)
    assert "reused from cache/smoke/predictions/final_test.npy" in capsys.readouterr().out
    assert sorted(p.name for p in path.parent.iterdir()) == ["final_test.json", "final_test.npy"]  # no temp files


@pytest.mark.parametrize("change, reason", [
    ("fewer images", "the cache holds 6 rows, not 5"),
    ("other images", "the images changed since"),
    ("retrained model", "the model's weights changed since"),
    ("a layer without weights added", "the model's layers changed since"),  # a test-time step, say
    ("corrupt file", "the cached file is unreadable: ValueError"),
    ("missing fingerprint", "none cached yet"),
])
def test_a_cache_that_no_longer_fits_is_recomputed(smoke_session, capsys, change, reason):
    model, x = CountingModel(), np.zeros((6, 28, 28, 1), dtype="float32")
    prediction_cache.predict_cached(model, x, "final_test")
    path = smoke_session / "cache" / "smoke" / "predictions" / "final_test.npy"
    if change == "fewer images":
        x = x[:5]
    elif change == "other images":
        x = x + 0.5
    elif change == "retrained model":
        model.version = 3
    elif change == "a layer without weights added":
        model.layers.append("views")
    elif change == "corrupt file":
        path.write_bytes(b"not numpy")
    else:
        path.with_suffix(".json").unlink()
    capsys.readouterr()
    probs = prediction_cache.predict_cached(model, x, "final_test")
    assert model.calls == 2 and len(probs) == len(x) and probs[0, model.version] == 1.0
    assert f"computed ({reason})" in capsys.readouterr().out
    model_calls = model.calls
    prediction_cache.predict_cached(model, x, "final_test", verbose=False)
    assert model.calls == model_calls  # the replaced cache is reused in turn


def test_prediction_cache_names_must_be_plain_file_names(smoke_session):
    with pytest.raises(EvaluationError, match=r"not a plain file name"):
        prediction_cache.predict_cached(CountingModel(), np.zeros((2, 28, 28)), "../outside")


def test_a_model_that_returns_the_wrong_shape_is_reported(smoke_session):
    class Flat(CountingModel):
        def predict(self, x, batch_size=None, verbose=None):
            return np.zeros(len(x))

    with pytest.raises(EvaluationError, match=r"predictions of shape \(2,\) for 2 images"):
        prediction_cache.predict_cached(Flat(), np.zeros((2, 28, 28)), "flat")


def test_the_cache_needs_a_session_or_a_profile(scratch_home, monkeypatch):
    from fmnist.learn import session as session_module

    monkeypatch.setattr(session_module, "_current", None)
    with pytest.raises(fmnist.FmnistError, match=r"call fmnist\.setup"):
        prediction_cache.predict_cached(CountingModel(), np.zeros((2, 28, 28)), "x")
    prediction_cache.predict_cached(CountingModel(), np.zeros((2, 28, 28)), "x", profile="small", verbose=False)
    assert (scratch_home / "cache" / "small" / "predictions" / "x.npy").is_file()


def test_prediction_source_names_the_model_that_made_the_cache(smoke_session):
    x = np.zeros((3, 28, 28), dtype="float32")
    with pytest.raises(FmnistError, match=r"No readable prediction cache .*predict_cached\(model, x, 'final_test'\)"):
        prediction_cache.prediction_source("final_test")
    prediction_cache.predict_cached(CountingModel(1), x, "final_test", verbose=False)
    first = prediction_cache.prediction_source("final_test")
    prediction_cache.predict_cached(CountingModel(2), x, "final_test", verbose=False)
    second = prediction_cache.prediction_source("final_test")
    assert first["model_sha256"] != second["model_sha256"] and first["inputs_sha256"] == second["inputs_sha256"]
    assert second["saved"]


def test_seeds_that_share_their_frozen_layers_are_predicted_in_one_pass_and_cached(smoke_session):
    import keras

    inputs = keras.Input((28, 28, 1))
    trunk = keras.layers.Flatten()(inputs)
    shared = keras.layers.Dense(8, name="shared")(trunk)  # stands in for the frozen layers
    models = {seed: keras.Model(inputs, keras.layers.Dense(10, activation="softmax", name=f"head{seed}")(shared))
              for seed in (0, 1, 2)}
    x = np.random.default_rng(0).random((5, 28, 28, 1)).astype("float32")
    found = prediction_cache.predict_seeds_cached(models, x, "05_test")
    assert list(found) == [0, 1, 2]
    for seed, model in models.items():
        np.testing.assert_allclose(found[seed], model.predict(x, verbose=0), rtol=1e-6)
        assert (smoke_session / "cache" / "smoke" / "predictions" / f"05_test_seed{seed}.npy").is_file()
    # the same files serve predict_cached, and a second call reuses them
    np.testing.assert_array_equal(prediction_cache.predict_cached(models[1], x, "05_test_seed1"), found[1])
    again = prediction_cache.predict_seeds_cached(models, x, "05_test")
    np.testing.assert_array_equal(again[2], found[2])
    separate = {seed: keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                        keras.layers.Dense(10, activation="softmax")]) for seed in (3, 4)}
    alone = prediction_cache.predict_seeds_cached(separate, x, "04_test")  # no shared input: one by one
    np.testing.assert_allclose(alone[4], separate[4].predict(x, verbose=0), rtol=1e-6)
