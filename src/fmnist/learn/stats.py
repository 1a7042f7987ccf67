"""Statistics on test predictions: intervals, paired tests, calibration, confusions, comparisons.

Everything here takes plain arrays (labels, predicted labels, predicted probabilities), so the
final evaluation notebook decides nothing by eye:

- `bootstrap_ci`: a percentile-bootstrap confidence interval for accuracy;
- `mcnemar`: the exact McNemar test of two models on the same test images;
- `expected_calibration_error` and `reliability`: do the probabilities mean what they say;
- `most_confused_pairs`: which true class is taken for which, most often;
- `compare_models`: a table of accuracies with intervals and McNemar verdicts;
- `seed_spread`: mean and standard deviation of test accuracies over seeds;
- `seed_record`: the same as a record the series' paired rule can compare.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.neighbors import NearestNeighbors

from fmnist.learn.data import CLASS_NAMES
from fmnist.errors import FmnistError


class EvaluationError(FmnistError):
    """Labels, predictions or probabilities that cannot be evaluated together."""


# --- checking the arguments --------------------------------------------------------------------

def _labels(name: str, values) -> np.ndarray:
    """`values` as a 1-D integer array of class indices 0-9."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise EvaluationError(
            f"{name} must be a 1-D array of class indices, got shape {array.shape}. For probabilities "
            f"of shape (N, 10) pass probs.argmax(axis=1)."
        )
    if len(array) == 0:
        raise EvaluationError(f"{name} is empty: pass the labels or predictions of at least one image.")
    if not np.issubdtype(array.dtype, np.integer):
        raise EvaluationError(f"{name} must hold integer class indices, got dtype {array.dtype}.")
    if array.min() < 0 or array.max() >= len(CLASS_NAMES):
        raise EvaluationError(
            f"{name} holds {array.min()}..{array.max()}; Fashion-MNIST class indices are 0-{len(CLASS_NAMES) - 1}."
        )
    return array


def _same_length(**arrays: np.ndarray) -> int:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} {n}" for name, n in lengths.items())
        raise EvaluationError(f"Lengths differ ({listed}): pass the labels and predictions of the same images.")
    return next(iter(lengths.values()))


def _probabilities(y_true, probs) -> tuple[np.ndarray, np.ndarray]:
    y_true = _labels("y_true", y_true)
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(CLASS_NAMES):
        raise EvaluationError(
            f"probs must have shape (N, {len(CLASS_NAMES)}), one row of class probabilities per image; "
            f"got {probs.shape}."
        )
    _same_length(y_true=y_true, probs=probs)
    sums = probs.sum(axis=1)
    # Logits or scores have no calibration to measure: refuse them rather than report a number.
    if not (np.all(probs >= 0) and np.allclose(sums, 1.0, atol=1e-3)):
        raise EvaluationError(
            f"probs must be probabilities (non-negative rows summing to 1); these rows sum to "
            f"{sums.min():.3g}..{sums.max():.3g}. Pass the output of a softmax model's predict(), "
            f"or apply keras.ops.softmax to logits first."
        )
    return y_true, probs


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise EvaluationError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


# --- accuracy and paired comparison -------------------------------------------------------------

def bootstrap_ci(y_true, y_pred, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval ``(low, high)`` for the accuracy of `y_pred`.

    Resampling the N test predictions with replacement and counting the right ones is a binomial
    draw (each draw is right with probability = the observed accuracy), so the `n_boot`
    resampled accuracies are drawn directly as counts: exactly the percentile bootstrap's
    distribution, without an (n_boot, N) index array (160 MB for the full test set).
    """
    y_true, y_pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    n = _same_length(y_true=y_true, y_pred=y_pred)
    n_boot = _positive_int("n_boot", n_boot)
    if not 0 < level < 1:
        raise EvaluationError(f"level must lie strictly between 0 and 1 (0.95 for a 95% interval), got {level!r}.")
    accuracy = float(np.mean(y_true == y_pred))
    rng = np.random.default_rng(seed)
    resampled = rng.binomial(n, accuracy, size=n_boot) / n
    tail = (1 - level) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail])
    return float(low), float(high)


def mcnemar(y_true, pred_a, pred_b) -> dict:
    """Exact two-sided McNemar test: do models a and b differ in accuracy on the same images?

    Only the images where exactly one model is right carry information: ``b`` (a right, b wrong)
    and ``c`` (a wrong, b right). Under "no difference" each of these b + c images is equally
    likely to go either way, so ``p_value`` is the two-sided binomial test of b out of b + c at
    0.5 (1.0 when the models never disagree). ``statistic`` is min(b, c), as for the exact test
    in statsmodels.
    """
    y_true = _labels("y_true", y_true)
    pred_a, pred_b = _labels("pred_a", pred_a), _labels("pred_b", pred_b)
    _same_length(y_true=y_true, pred_a=pred_a, pred_b=pred_b)
    right_a, right_b = pred_a == y_true, pred_b == y_true
    b = int(np.sum(right_a & ~right_b))
    c = int(np.sum(~right_a & right_b))
    p_value = 1.0 if b + c == 0 else float(binomtest(b, b + c, 0.5).pvalue)
    return {"b": b, "c": c, "statistic": min(b, c), "p_value": p_value}


# --- calibration ------------------------------------------------------------------------------

def _bins(y_true: np.ndarray, probs: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: confidence (top probability), whether the top class is right, and its bin.

    Bins are equal-width intervals (lo, hi] of confidence, as in Guo et al. (2017).
    """
    bins = _positive_int("bins", bins)
    confidence = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    return confidence, correct, index


def reliability(y_true, probs, bins: int = 15):
    """The reliability table: per non-empty confidence bin, mean confidence, accuracy and count.

    A DataFrame with columns ``bin`` (0 = lowest confidence), ``confidence``, ``accuracy`` and
    ``count``; a well-calibrated model has accuracy close to confidence in every bin.
    """
    y_true, probs = _probabilities(y_true, probs)
    confidence, correct, index = _bins(y_true, probs, bins)
    rows = []
    for b in np.unique(index):
        inside = index == b
        rows.append({"bin": int(b), "confidence": float(confidence[inside].mean()),
                     "accuracy": float(correct[inside].mean()), "count": int(inside.sum())})
    return pd.DataFrame(rows, columns=["bin", "confidence", "accuracy", "count"])


def expected_calibration_error(y_true, probs, bins: int = 15) -> float:
    """ECE: the gap between confidence and accuracy, averaged over bins weighted by their size."""
    table = reliability(y_true, probs, bins)
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["accuracy"] - table["confidence"]).abs()).sum())


# --- errors -----------------------------------------------------------------------------------

def most_confused_pairs(y_true, y_pred, k: int = 5):
    """The `k` most frequent mistakes as a DataFrame (true, predicted, count), most frequent first.

    Pairs are directed (Shirt taken for T-shirt/top is not T-shirt/top taken for Shirt); ties are
    listed in class order, and pairs that never occur are left out.
    """
    y_true, y_pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    _same_length(y_true=y_true, y_pred=y_pred)
    k = _positive_int("k", k)
    n_classes = len(CLASS_NAMES)
    counts = np.bincount(y_true * n_classes + y_pred, minlength=n_classes ** 2).reshape(n_classes, n_classes)
    np.fill_diagonal(counts, 0)
    pairs = sorted(((int(-counts[t, p]), t, p) for t in range(n_classes) for p in range(n_classes)
                    if counts[t, p] > 0))[:k]
    return pd.DataFrame([{"true": CLASS_NAMES[t], "predicted": CLASS_NAMES[p], "count": -neg}
                         for neg, t, p in pairs], columns=["true", "predicted", "count"])


def compare_models(y_true, predictions: dict, baseline: str, level: float = 0.95, alpha: float = 0.05):
    """Test accuracy with a bootstrap interval for each model, and McNemar against the baseline
    and against the model before it (in the order of `predictions`, a dict name -> predicted labels).

    A DataFrame with one row per model: ``accuracy``, ``ci low``, ``ci high``, ``p vs baseline``,
    ``vs baseline`` ("better", "worse" or "no significant difference" at `alpha`), and the same
    two columns for the previous model.
    """
    if baseline not in predictions:
        raise EvaluationError(f"baseline {baseline!r} is not among the models: {', '.join(predictions)}.")
    y_true = _labels("y_true", y_true)

    def verdict(test: dict) -> str:
        if test["p_value"] >= alpha:
            return "no significant difference"
        return "better" if test["c"] > test["b"] else "worse"

    rows, previous = [], None
    for name, pred in predictions.items():
        pred = _labels(name, pred)
        low, high = bootstrap_ci(y_true, pred, level=level)
        row = {"model": name, "accuracy": float(np.mean(pred == y_true)), "ci low": low, "ci high": high}
        for label, other in (("baseline", baseline if name != baseline else None), ("previous", previous)):
            test = mcnemar(y_true, predictions[other], pred) if other is not None else None
            row[f"p vs {label}"] = test["p_value"] if test else None
            row[f"vs {label}"] = verdict(test) if test else ""
        rows.append(row)
        previous = name
    return pd.DataFrame(rows)


def seed_spread(y_true, predictions: dict) -> dict:
    """Test accuracy of one stage's models, one per seed: ``mean``, ``std`` (ddof 1), ``n`` and ``accuracies``.

    `predictions` maps each seed to its model's predicted labels on the same test images. The
    standard deviation measures how much the result moves with the seed (initialisation and data
    order), not the sampling of the test images: a bootstrap interval says that.
    """
    y_true = _labels("y_true", y_true)
    if not predictions:
        raise EvaluationError("seed_spread needs the predictions of at least one seed's model.")
    accuracies = {}
    for seed, pred in predictions.items():
        pred = _labels(f"seed {seed}", pred)
        _same_length(y_true=y_true, pred=pred)
        accuracies[seed] = float(np.mean(pred == y_true))
    values = np.array(list(accuracies.values()))
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "n": len(values), "accuracies": accuracies}


def seed_record(name: str, y_true, probabilities: dict) -> dict:
    """The accuracy of one model's seeds on labelled images, shaped like a registry record.

    `probabilities` maps each seed to its model's class probabilities (or predicted labels) on the
    same images. The result has ``model``, ``seeds``, ``accuracy`` (``mean``, ``std``, per-seed
    ``values``) and ``extra["validation_images"]``: what `fmnist.learn.decisions.compare` needs to
    pair it seed by seed with another record, as notebook 06 does for the ensemble of 04 and 05.
    """
    seeds = sorted(probabilities)
    labels = {s: np.asarray(probabilities[s]) for s in seeds}
    labels = {s: p.argmax(axis=1) if p.ndim == 2 else p for s, p in labels.items()}
    spread = seed_spread(y_true, labels)
    values = [spread["accuracies"][s] for s in seeds]
    return {"model": name, "seeds": [int(s) for s in seeds],
            "accuracy": {"mean": spread["mean"], "std": spread["std"], "values": values},
            "extra": {"validation_images": len(_labels("y_true", y_true))}}

def nearest_neighbours(query, pool, k: int = 3) -> np.ndarray:
    """Indices (len(query), k) of the `k` images of `pool` closest to each query image in pixel space.

    Is a mistake the data's ambiguity? The nearest training images of a misclassified test image say.
    """
    query, pool = np.asarray(query, dtype=np.float32), np.asarray(pool, dtype=np.float32)
    k = _positive_int("k", k)
    if len(pool) < k:
        raise EvaluationError(f"nearest_neighbours: the pool has {len(pool)} images, fewer than k={k}.")
    if query.shape[1:] != pool.shape[1:]:
        raise EvaluationError(f"query images {query.shape[1:]} and pool images {pool.shape[1:]} differ in shape.")
    finder = NearestNeighbors(n_neighbors=k).fit(pool.reshape(len(pool), -1))
    return finder.kneighbors(query.reshape(len(query), -1), return_distance=False)
