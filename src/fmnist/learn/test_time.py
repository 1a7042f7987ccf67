"""Steps that cost no training: averaging a model over views of each image, and averaging models.

Notebook 04 decides each on validation with the series' paired rule over seeds, then saves what it
chose as one Keras model, so that notebook 06, `fmnist predict` and anyone who loads the file predict
exactly as validation chose:

- `with_views(model, flip=..., shift=...)`: the model's probabilities averaged over the image, its
  mirror (``flip``) and copies moved by ``shift`` pixels down-right and up-left, each computed inside
  the saved model by the `Views` and `ViewAverage` layers (registered with Keras, so the file loads
  wherever this package is importable);
- `ensemble(models)`: the mean of several models' probabilities (the final model's seeds).

`view_probabilities` computes every view's probabilities once with NumPy views of the images, so a
notebook can score all combinations from one pass; `record` puts such scores in the registry seed by
seed, as `over_seeds` records a fit, and `ensemble_record` describes an ensemble for the paired rule.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops
from sklearn.metrics import log_loss

from fmnist.learn import decisions, registry
from fmnist.learn.session import current

SHIFTS = ((1, 1), (-1, -1))  # (down, right) pixel moves of the shifted views; zeros fill the border


def _views_of(images: np.ndarray, flip: bool, shift: int) -> list[np.ndarray]:
    """The views `Views` computes, as NumPy arrays: the image (and its mirror), then their shifted copies."""
    bases = [images, images[:, :, ::-1]] if flip else [images]
    views = list(bases)
    for base in bases:
        for dy, dx in (SHIFTS if shift else ()):
            padded = np.pad(base, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
            h, w = base.shape[1:3]
            top, left = shift - dy * shift, shift - dx * shift
            views.append(padded[:, top:top + h, left:left + w])
    return [np.ascontiguousarray(v) for v in views]


def view_count(flip: bool, shift: int) -> int:
    return (2 if flip else 1) * (1 + (len(SHIFTS) if shift else 0))


@keras.saving.register_keras_serializable(package="fmnist")
class Views(keras.layers.Layer):
    """A batch of images in, the same batch stacked once per view out (original, mirror, shifted copies)."""

    def __init__(self, flip: bool = True, shift: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.flip, self.shift = bool(flip), int(shift)
        self.count = view_count(self.flip, self.shift)

    def call(self, images):
        bases = [images, ops.flip(images, axis=2)] if self.flip else [images]
        views = list(bases)
        s = self.shift
        for base in bases:
            for dy, dx in (SHIFTS if s else ()):
                padded = ops.pad(base, ((0, 0), (s, s), (s, s), (0, 0)))
                top, left = s - dy * s, s - dx * s
                views.append(padded[:, top:top + images.shape[1], left:left + images.shape[2], :])
        return ops.concatenate(views, axis=0)

    def compute_output_shape(self, input_shape):
        return (None if input_shape[0] is None else input_shape[0] * self.count, *input_shape[1:])

    def get_config(self):
        return {**super().get_config(), "flip": self.flip, "shift": self.shift}


@keras.saving.register_keras_serializable(package="fmnist")
class ViewAverage(keras.layers.Layer):
    """The mean over views of the probabilities of a batch that `Views` stacked `count` times."""

    def __init__(self, count: int, **kwargs):
        super().__init__(**kwargs)
        self.count = int(count)

    def call(self, probabilities):
        return ops.mean(ops.reshape(probabilities, (self.count, -1, probabilities.shape[-1])), axis=0)

    def compute_output_shape(self, input_shape):
        return (None, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "count": self.count}


def with_views(model, *, flip: bool = True, shift: int = 0, name: str | None = None):
    """`model` predicting the mean of its probabilities over the views; `model` itself when there are none."""
    if not flip and not shift:
        return model
    inputs = keras.Input(model.input_shape[1:])
    views = Views(flip, shift)
    return keras.Model(inputs, ViewAverage(views.count)(model(views(inputs))), name=name or f"{model.name}_views")


def ensemble(models: list, name: str = "ensemble"):
    """One model whose prediction is the mean of `models`' probabilities."""
    if len(models) == 1:
        return models[0]
    inputs = keras.Input(models[0].input_shape[1:])
    # Seeds' models share their names; the ensemble needs one name per member.
    members = [keras.Model(m.input, m.output, name=f"member_{i}") for i, m in enumerate(models)]
    return keras.Model(inputs, keras.layers.Average()([m(inputs) for m in members]), name=name)


def view_probabilities(model, images: np.ndarray, *, flip: bool = True, shift: int = 1,
                       batch_size: int = 1000) -> np.ndarray:
    """Probabilities of every view of `images`, shape (views, images, classes), in `Views`' order:
    the image, its mirror, then the image moved down-right and up-left, then the mirror moved so."""
    return np.stack([model.predict(v, batch_size=batch_size, verbose=0) for v in _views_of(images, flip, shift)])


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(probabilities.argmax(axis=-1) == labels))


def record(probabilities: list[np.ndarray], labels: np.ndarray, name: str, *, seeds: list[int], params: int,
           of: str, how: str) -> dict:
    """Record per-seed validation probabilities as `name`, paired with `of` (the same seeds and images)."""
    session = current()
    accuracies = [accuracy(p, labels) for p in probabilities]
    losses = [float(log_loss(labels, p, labels=range(p.shape[-1]))) for p in probabilities]
    return registry.record(session.stage, name, "validation", accuracies, losses, seeds=list(seeds), params=params,
                           profile=session.profile.name,
                           extra={"of": of, "test_time": how, "validation_images": len(labels)})


def judge(probabilities: list[np.ndarray], labels: np.ndarray, name: str, against: dict, *, seeds: list[int],
          params: int, how: str) -> tuple[bool, dict]:
    """Record per-seed probabilities as `name` and judge them against `against` by the paired rule.

    Prints the verdict; returns whether the step is kept and the record that is best after it
    (`name`'s if kept, else `against`).
    """
    entry = record(probabilities, labels, name, seeds=seeds, params=params, of=against["model"], how=how)
    verdict = decisions.compare(entry, against)
    print(verdict.sentence())
    return verdict.kept, entry if verdict.kept else against


def ensemble_record(probabilities: list[np.ndarray], labels: np.ndarray, name: str, *, seeds: list[int],
                    params: int, of: str) -> tuple[dict, dict]:
    """Record the ensemble of the seeds' probabilities; return it and its form for the paired rule.

    The ensemble is one model, so the paired rule sets it against each seed's model in turn: the
    returned comparison record carries its accuracy once per seed it combines (recorded only once).
    """
    session = current()
    mean = np.mean(probabilities, axis=0)
    value = accuracy(mean, labels)
    entry = registry.record(session.stage, name, "validation", [value],
                            [float(log_loss(labels, mean, labels=range(mean.shape[-1])))], params=params,
                            profile=session.profile.name,
                            extra={"of": of, "members": list(seeds), "validation_images": len(labels),
                                   "test_time": f"mean of {len(seeds)} seeds' models"})
    paired = {**entry, "accuracy": registry.summarise([value] * len(seeds)), "seeds": list(seeds)}
    return entry, paired


def describe(model) -> str:
    """What a saved model does at test time beyond one prediction per image ("" for nothing), in words."""
    views, members = None, 0
    for layer in _all_layers(model):
        if isinstance(layer, Views) and views is None:
            views = layer
        if isinstance(layer, keras.layers.Average):
            members = max(members, len(layer.input) if isinstance(layer.input, list) else 0)
    parts = []
    if views is not None:
        parts.append("the mean over " + ", ".join(
            ["the image"] + (["its mirror"] if views.flip else []) + ([f"copies moved by {views.shift} pixel"] if views.shift else [])))
    if members:
        parts.append(f"the mean of {members} models (an ensemble of seeds)")
    return "; ".join(parts)


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)

