"""The environment a result was produced in: backend, device and library versions."""

from __future__ import annotations

import os
import platform
import sys
from functools import lru_cache


def backend() -> str:
    """The Keras backend in use (imports keras, so set KERAS_BACKEND before calling)."""
    import keras

    return keras.backend.backend()


@lru_cache(maxsize=None)
def device() -> str:
    """'GPU (<name>)' when the backend sees an accelerator, else 'CPU (<n> cores)'."""
    name = backend()
    gpu = None
    try:
        if name == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            gpu = gpus[0].name if gpus else None
        elif name == "jax":
            import jax

            first = jax.devices()[0]
            gpu = first.device_kind if first.platform != "cpu" else None
        elif name == "torch":
            import torch

            gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception:  # a broken accelerator stack still lets us report the CPU
        gpu = None
    return f"GPU ({gpu})" if gpu else f"CPU ({os.cpu_count()} cores)"


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries the numbers depend on."""
    import keras
    import numpy

    import fmnist

    found = {"python": platform.python_version(), "fmnist": fmnist.__version__,
             "keras": keras.__version__, "numpy": numpy.__version__}
    name = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(name)
    if module:
        found[module] = getattr(sys.modules.get(module) or __import__(module), "__version__", "?")
    return found


def describe() -> dict[str, object]:
    """Backend, device and versions, as recorded with every result."""
    return {"backend": backend(), "device": device(), "versions": versions()}
