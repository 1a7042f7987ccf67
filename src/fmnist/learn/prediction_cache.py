"""A model's test predictions, computed once and kept under ``cache/<profile>/predictions/``.

Re-running the final evaluation reuses them instead of predicting again, and recomputes them
only when the model's weights or the images changed (their SHA-256 are kept beside them).
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from fmnist import paths
from fmnist.learn.session import current
from fmnist.learn.stats import EvaluationError


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def prediction_path(name: str, profile: str | None = None) -> Path:
    """Where `predict_cached` keeps the predictions called `name`: cache/<profile>/predictions/<name>.npy."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise EvaluationError(
            f"Prediction cache name {name!r} is not a plain file name: use letters, digits, '_', '-' "
            f"and '.', for example '04_regularisation_test'."
        )
    if profile is None:
        profile = current().profile.name
    return paths.cache_dir(profile) / "predictions" / f"{name}.npy"


def _fingerprint(model, x: np.ndarray) -> dict:
    """SHA-256 of the model's weights and of the input images: what the predictions depend on."""
    weights = hashlib.sha256()
    get_weights = getattr(model, "get_weights", None)
    for w in (get_weights() if callable(get_weights) else []):
        array = np.ascontiguousarray(w)
        weights.update(str((array.dtype.str, array.shape)).encode())
        weights.update(array.tobytes())
    inputs = hashlib.sha256(str((x.dtype.str, x.shape)).encode())
    inputs.update(np.ascontiguousarray(x).tobytes())
    return {"model_sha256": weights.hexdigest(), "inputs_sha256": inputs.hexdigest()}


def _cached(path: Path, meta_path: Path, expected: dict, n: int) -> tuple[np.ndarray | None, str]:
    """The cached predictions, or None and the reason they cannot be reused."""
    if not path.is_file() or not meta_path.is_file():
        return None, "none cached yet"
    try:
        probs = np.load(path, allow_pickle=False)
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError, EOFError) as exc:
        return None, f"the cached file is unreadable: {type(exc).__name__}"
    if not isinstance(meta, dict):
        return None, "the cached fingerprint is unreadable"
    if probs.ndim != 2 or len(probs) != n:
        return None, f"the cache holds {probs.shape[0] if probs.ndim else 0} rows, not {n}"
    if meta.get("model_sha256") != expected["model_sha256"]:
        return None, "the model's weights changed since"
    if meta.get("inputs_sha256") != expected["inputs_sha256"]:
        return None, "the images changed since"
    return probs, "reused"


def predict_cached(model, x, name: str, *, profile: str | None = None, batch_size: int = 256,
                   verbose: bool = True) -> np.ndarray:
    """``model.predict(x)``, kept in cache/<profile>/predictions/<name>.npy and reused when valid.

    The cache is reused only if it has one row per image of `x` and was made by a model with
    the same weights from the same images (their SHA-256 are kept beside it in <name>.json);
    otherwise the model predicts again and the cache is replaced. Both files are written
    atomically. `profile` defaults to the one `fmnist.setup()` chose.
    """
    path = prediction_path(name, profile)
    meta_path = path.with_suffix(".json")
    x = np.asarray(x)
    expected = _fingerprint(model, x)
    probs, reason = _cached(path, meta_path, expected, len(x))
    shown = path.relative_to(paths.repo_root()) if path.is_relative_to(paths.repo_root()) else path
    if probs is not None:
        if verbose:
            print(f"Predictions {name!r}: reused from {shown} (same model weights and images).")
        return probs
    probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    if probs.ndim != 2 or len(probs) != len(x):
        raise EvaluationError(
            f"The model returned predictions of shape {probs.shape} for {len(x)} images; expected one "
            f"row of class probabilities per image."
        )
    # Remove the fingerprint first: a crash between the two writes then leaves no pair that
    # looks valid but belongs to different predictions.
    meta_path.unlink(missing_ok=True)
    with paths.atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, probs, allow_pickle=False)
    meta = {**expected, "rows": len(probs), "columns": int(probs.shape[1]),
            "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    paths.write_text_atomic(meta_path, json.dumps(meta, indent=1) + "\n")
    if verbose:
        print(f"Predictions {name!r}: computed ({reason}) and saved to {shown}.")
    return probs


def prediction_source(name: str, profile: str | None = None) -> dict:
    """What the cached predictions `name` were made from: ``model_sha256``, ``inputs_sha256`` and ``saved``.

    Notebook 06 records the model's fingerprint with each test result, so a later evaluation of a
    different model can be told apart from a re-run (see `registry.record`).
    """
    meta_path = prediction_path(name, profile).with_suffix(".json")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"No readable prediction cache {meta_path} ({type(exc).__name__}): "
                              f"run predict_cached(model, x, {name!r}) first.") from None
    return {k: meta.get(k) for k in ("model_sha256", "inputs_sha256", "saved")}
