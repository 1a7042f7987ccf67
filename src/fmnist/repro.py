"""Reproducibility: one call seeds everything and starts from a clean Keras session."""

from __future__ import annotations

import os


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and the Keras backend, clear the Keras session, and turn on
    deterministic ops when the backend is TensorFlow.

    Call it before building every model, so that each model starts from the same state
    whatever ran before it in the notebook.
    """
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy and the backend
    os.environ["PYTHONHASHSEED"] = str(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
