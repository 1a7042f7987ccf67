"""The series' own loss: sparse cross-entropy with label smoothing, and the loss a configuration asks for.

Kept apart from the training code because loading a saved model only needs the loss registered:
`fmnist.learn.saved_models` imports this module. The class is registered with Keras as
``"fmnist>SmoothedSparseCrossentropy"`` (package ``"fmnist"``, the class name); saved models refer
to it by that name, so models saved while the class lived elsewhere load unchanged (Keras looks the
registered name up first).
"""

from __future__ import annotations

import keras
from keras import ops

from fmnist.errors import FmnistError


@keras.saving.register_keras_serializable(package="fmnist", name="SmoothedSparseCrossentropy")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy against integer labels with label smoothing.

    Keras' sparse cross-entropy has no smoothing; this spreads `smoothing` of each target's
    probability evenly over all classes, exactly like one-hot labels with
    ``CategoricalCrossentropy(label_smoothing=...)``, without one-hot encoding the data.
    """

    def __init__(self, smoothing: float = 0.1, name: str = "smoothed_sparse_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= smoothing < 1.0:
            raise FmnistError(f"label smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = float(smoothing)

    def call(self, y_true, y_pred):
        classes = ops.shape(y_pred)[-1]
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), classes)
        target = labels * (1.0 - self.smoothing) + self.smoothing / classes
        log_p = ops.log(ops.clip(y_pred, 1e-7, 1.0))
        return -ops.sum(target * log_p, axis=-1)

    def get_config(self):
        return {"smoothing": self.smoothing, "name": self.name}


def make_loss(config: dict):
    """The loss a configuration asks for: plain sparse cross-entropy, or with label smoothing."""
    smoothing = config.get("label_smoothing") or 0.0
    return SmoothedSparseCrossentropy(smoothing) if smoothing else "sparse_categorical_crossentropy"
