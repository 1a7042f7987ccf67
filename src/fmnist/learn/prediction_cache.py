"""A model's test predictions, computed once and kept under ``cache/<profile>/predictions/``.

Re-running the final evaluation reuses them instead of predicting again, and recomputes them
only when the model's weights, its layers or the images changed (their SHA-256 are kept beside them).
`predict_seeds_cached` does the same for every seed's model of a stage, in one pass where the
models share their frozen layers.
"""

from __future__ import annotations

import hashlib
import json
import logging
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


def _weights_sha256(model) -> str:
    """SHA-256 of a model's weights (dtype, shape and bytes of each, in order)."""
    weights = hashlib.sha256()
    get_weights = getattr(model, "get_weights", None)
    for w in (get_weights() if callable(get_weights) else []):
        array = np.ascontiguousarray(w)
        weights.update(str((array.dtype.str, array.shape)).encode())
        weights.update(array.tobytes())
    return weights.hexdigest()


def _inputs_sha256(x: np.ndarray) -> str:
    inputs = hashlib.sha256(str((x.dtype.str, x.shape)).encode())
    inputs.update(np.ascontiguousarray(x).tobytes())
    return inputs.hexdigest()


def _architecture_sha256(model) -> str:
    """SHA-256 of a model's layers and their settings: a test-time layer (mirrored views, say) adds no
    weights, yet changes every prediction."""
    to_json = getattr(model, "to_json", None)
    return hashlib.sha256((to_json() if callable(to_json) else type(model).__name__).encode()).hexdigest()


def _fingerprint(model, x: np.ndarray) -> dict:
    """SHA-256 of the model's weights, of its layers and of the input images: what the predictions depend on."""
    return {"model_sha256": _weights_sha256(model), "architecture_sha256": _architecture_sha256(model),
            "inputs_sha256": _inputs_sha256(x)}


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
    if meta.get("architecture_sha256") != expected["architecture_sha256"]:
        return None, "the model's layers changed since"
    if meta.get("inputs_sha256") != expected["inputs_sha256"]:
        return None, "the images changed since"
    return probs, "reused"


def _checked(probs, n: int) -> np.ndarray:
    probs = np.asarray(probs)
    if probs.ndim != 2 or len(probs) != n:
        raise EvaluationError(
            f"The model returned predictions of shape {probs.shape} for {n} images; expected one "
            f"row of class probabilities per image."
        )
    return probs


def _store(path: Path, probs: np.ndarray, expected: dict) -> None:
    """Keep `probs` and their fingerprint, both written atomically."""
    meta_path = path.with_suffix(".json")
    # Remove the fingerprint first: a crash between the two writes then leaves no pair that
    # looks valid but belongs to different predictions.
    meta_path.unlink(missing_ok=True)
    with paths.atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, probs, allow_pickle=False)
    meta = {**expected, "rows": len(probs), "columns": int(probs.shape[1]),
            "saved": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    paths.write_text_atomic(meta_path, json.dumps(meta, indent=1) + "\n")


def _shown(path: Path):
    return path.relative_to(paths.repo_root()) if path.is_relative_to(paths.repo_root()) else path


def _predict(model, x: np.ndarray, batch_size: int):
    """``model.predict(x)`` without TensorFlow's retracing warning, which every new model's first
    predict may log once five models have predicted: it says nothing about the predictions."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        return model.predict(x, batch_size=batch_size, verbose=0)
    finally:
        logger.setLevel(level)


def predict_cached(model, x, name: str, *, profile: str | None = None, batch_size: int = 256,
                   verbose: bool = True) -> np.ndarray:
    """``model.predict(x)``, kept in cache/<profile>/predictions/<name>.npy and reused when valid.

    The cache is reused only if it has one row per image of `x` and was made by a model with
    the same weights from the same images (their SHA-256 are kept beside it in <name>.json);
    otherwise the model predicts again and the cache is replaced. Both files are written
    atomically. `profile` defaults to the one `fmnist.setup()` chose.
    """
    path = prediction_path(name, profile)
    x = np.asarray(x)
    expected = _fingerprint(model, x)
    probs, reason = _cached(path, path.with_suffix(".json"), expected, len(x))
    if probs is not None:
        if verbose:
            print(f"Predictions {name!r}: reused from {_shown(path)} (same model weights and images).")
        return probs
    probs = _checked(_predict(model, x, batch_size), len(x))
    _store(path, probs, expected)
    if verbose:
        print(f"Predictions {name!r}: computed ({reason}) and saved to {_shown(path)}.")
    return probs


def predict_seeds_cached(models: dict, x, name: str, *, profile: str | None = None,
                         batch_size: int = 256) -> dict:
    """Every seed's ``model.predict(x)``, each cached as `predict_cached` would as ``<name>_seed<N>``.

    `models` maps seeds to models (`fmnist.learn.saved_models.load_seed_models`). Those that share
    their input, such as notebook 05's seeds (each a fine-tuned top on the same frozen layers), are
    predicted in one pass, so the layers they share run once instead of once per seed. Returns
    ``{seed: probabilities}`` in the order of `models`.
    """
    x = np.asarray(x)
    inputs_sha256 = _inputs_sha256(x)
    found, missing = {}, {}
    for seed, model in models.items():
        path = prediction_path(f"{name}_seed{seed}", profile)
        expected = {"model_sha256": _weights_sha256(model), "architecture_sha256": _architecture_sha256(model),
                    "inputs_sha256": inputs_sha256}
        probs, _ = _cached(path, path.with_suffix(".json"), expected, len(x))
        if probs is not None:
            found[seed] = probs
        else:
            missing[seed] = (model, path, expected)
    todo = [model for model, _, _ in missing.values()]
    if len(todo) > 1 and len({id(model.inputs[0]) for model in todo}) == 1:
        import keras  # after fmnist.setup() chose the backend: only notebooks call this

        joint = keras.Model(todo[0].inputs, [model.outputs[0] for model in todo])
        outputs = _predict(joint, x, batch_size)
    else:
        outputs = [_predict(model, x, batch_size) for model in todo]
    for (seed, (_, path, expected)), probs in zip(missing.items(), outputs):
        found[seed] = _checked(probs, len(x))
        _store(path, found[seed], expected)
    return {seed: found[seed] for seed in models}


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
