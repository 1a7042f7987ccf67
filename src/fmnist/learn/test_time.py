"""Test-time augmentation: average a model's prediction of an image and of its mirror image.

Clothes are mirror-symmetric (notebook 04 trains with horizontal flips for that reason), so a model
that sees both an image and its flip and averages the two probability vectors makes fewer errors
from where the item happens to point. Notebook 04 decides on validation whether to use it, with the
series' paired rule over the final seeds (`record_flip`); notebook 06 then predicts the test images
the same way (`with_flip`), because the decision is part of the model.
"""

from __future__ import annotations

import numpy as np

from fmnist.learn import registry
from fmnist.learn.session import current


def predict(model, x: np.ndarray, *, flip: bool, batch_size: int = 1024) -> np.ndarray:
    """Class probabilities of `x`, averaged with those of its left-right mirror when `flip`."""
    probs = model.predict(x, batch_size=batch_size, verbose=0)
    if flip:
        probs = (probs + model.predict(np.ascontiguousarray(x[:, :, ::-1]), batch_size=batch_size, verbose=0)) / 2
    return probs


class with_flip:  # noqa: N801  (used like a model: `with_flip(model).predict(x)`)
    """A model's stand-in that predicts with flip averaging; its weights are the model's own."""

    def __init__(self, model):
        self.model = model

    def predict(self, x, batch_size: int = 1024, verbose=0):
        return predict(self.model, np.asarray(x), flip=True, batch_size=batch_size)

    def get_weights(self):
        return self.model.get_weights()

    def count_params(self) -> int:
        return self.model.count_params()


def record_flip(result, split, name: str, *, of: str) -> dict:
    """Validation accuracy of every seed's model of `result` with flip averaging, recorded as `name`.

    The record has the same seeds and validation images as `of` (the record of `result` without
    it), so `fmnist.learn.decisions.compare(record, registry.get(stage, of))` pairs them seed by seed.
    """
    from sklearn.metrics import log_loss

    session = current()
    accuracies, losses = [], []
    for model in result.models:
        probs = predict(model, split.x_val, flip=True)
        accuracies.append(float(np.mean(probs.argmax(axis=1) == split.y_val)))
        losses.append(float(log_loss(split.y_val, probs, labels=range(probs.shape[1]))))
    return registry.record(session.stage, name, "validation", accuracies, losses, seeds=list(result.seeds),
                           params=result.params, epochs=result.epochs_run, profile=session.profile.name,
                           extra={"of": of, "test_time": "mean of the image's and its mirror's probabilities",
                                  "validation_images": len(split.y_val)})
