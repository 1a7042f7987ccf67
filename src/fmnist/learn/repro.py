"""Reproducibility: one call seeds everything and starts from a clean Keras session."""

from __future__ import annotations

import os


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy and the Keras backend, clear the Keras session, and turn on
    deterministic ops when the backend is TensorFlow.

    Call it before building every model, so that each model starts from the same state
    whatever ran before it in the notebook.
    """
    import keras  # not at the top: `import fmnist` imports this module before setup() chooses the backend

    keras.backend.clear_session()
    if keras.backend.backend() != "tensorflow":
        _skip_tensorflow_seed()
    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy and the backend
    os.environ["PYTHONHASHSEED"] = str(seed)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf  # installed only where it is the backend

        tf.config.experimental.enable_op_determinism()


def _skip_tensorflow_seed() -> None:
    """Keep `keras.utils.set_random_seed` from importing TensorFlow on JAX or torch.

    It also seeds TensorFlow whenever TensorFlow is installed, for tf.data pipelines, which the
    series does not use off TensorFlow: that import costs seconds and prints TensorFlow's native
    start-up lines on every backend. Keras asks its lazy `tensorflow` module whether it is
    available; answering "no" in advance skips the import. (A Keras without that attribute
    simply imports TensorFlow as before.)
    """
    try:
        from keras.src.utils.module_utils import tensorflow as lazy_tensorflow  # private: absent from some Keras
    except ImportError:
        return
    if getattr(lazy_tensorflow, "module", None) is None and hasattr(lazy_tensorflow, "_available"):
        lazy_tensorflow._available = False
