"""Fashion-MNIST prepared for ImageNet models: RGB, resized, preprocessed, and cached features.

ImageNet bases (VGG16, MobileNetV2) want 3-channel images of at least 32x32 pixels, scaled the
way each model was trained. `to_rgb_batches` turns 28x28 grey images into such batches one batch
at a time, so 70,000 images at 96 px never sit in memory at once. `extract_features` runs a
frozen base over them and caches the result under ``cache/<profile>/features/``, so a notebook
re-run (or the next notebook) loads the features instead of recomputing them. `split_base` cuts a
base in two, so that only its top is fine-tuned on the cached outputs of its bottom, and
`MirroredActivations` gives such a fine-tuning random horizontal flips.

Only ``keras``, ``keras.ops`` and NumPy are used: the same code runs on TensorFlow, JAX and torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import time
from pathlib import Path
from typing import Callable, Iterator

import keras  # the session has chosen the backend before notebooks import this module
import numpy as np
from keras import ops

from fmnist import paths
from fmnist.learn import progress, weights
from fmnist.errors import FmnistError
from fmnist.learn.session import current

MIN_SIZE = 32  # the smallest input keras.applications accepts for VGG16 and MobileNetV2
MODELS = ("vgg16", "mobilenet_v2")


class ImagenetError(FmnistError):
    """Images, sizes or a base model that cannot be used for ImageNet transfer learning."""


def preprocess_function(model: str) -> Callable:
    """The ``preprocess_input`` of `model` ("vgg16" or "mobilenet_v2") from ``keras.applications``.

    VGG16 expects BGR images with the ImageNet mean subtracted; MobileNetV2 expects [-1, 1].
    """
    if model == "vgg16":
        return keras.applications.vgg16.preprocess_input
    if model == "mobilenet_v2":
        return keras.applications.mobilenet_v2.preprocess_input
    raise ImagenetError(f"Unknown base model {model!r}: use one of {', '.join(repr(m) for m in MODELS)}.")


def _check_size(size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_SIZE:
        raise ImagenetError(
            f"Image size {size!r} is too small: VGG16 and MobileNetV2 need at least {MIN_SIZE}x{MIN_SIZE} "
            f"pixels. Use an integer size of {MIN_SIZE} or more (the profile's transfer_sizes, for example)."
        )
    return int(size)


def _check_images(images) -> np.ndarray:
    """The images as an (N, 28, 28) array, its values checked against what its dtype promises."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ImagenetError(
            f"Expected Fashion-MNIST images of shape (N, 28, 28) or (N, 28, 28, 1), got {images.shape}. "
            f"Pass the arrays of fmnist.load() or fmnist.load_split() unchanged."
        )
    if len(images) == 0:
        raise ImagenetError("No images were given: pass at least one image.")
    if np.issubdtype(images.dtype, np.integer):
        low, high, scale = 0, 255, "0-255 (as fmnist.load() gives them)"
    elif np.issubdtype(images.dtype, np.floating):
        low, high, scale = 0.0, 1.0, "[0, 1] (as fmnist.prepare() gives them)"
    else:
        raise ImagenetError(f"Images of dtype {images.dtype} are not supported: pass uint8 or float images.")
    lowest, highest = images.min(), images.max()
    # `not (...)` so that NaN, which fails every comparison, is reported too
    if not (lowest >= low and highest <= high):
        raise ImagenetError(
            f"{images.dtype} images must lie in {scale}; these range from {lowest} to {highest}. "
            f"Pass uint8 images in 0-255 or float images scaled to [0, 1]."
        )
    return images


def to_rgb_batches(images, size: int, preprocess: Callable, batch_size: int = 1024) -> Iterator[np.ndarray]:
    """Batches of `images` ready for an ImageNet model: (b, size, size, 3) float32, in order.

    `images` are uint8 in 0-255 or float in [0, 1], shaped (N, 28, 28) or (N, 28, 28, 1). Each
    batch is resized bilinearly, scaled to 0-255, given three channels and passed through
    `preprocess` (the model's ``preprocess_input``; see `preprocess_function`). The arguments are
    checked now, not at the first batch, so a mistake shows up where the call is.
    """
    size = _check_size(size)
    images = _check_images(images)
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ImagenetError(f"batch_size must be a positive integer, got {batch_size!r}.")
    scale = 1.0 if np.issubdtype(images.dtype, np.integer) else 255.0
    return _batches(images, size, preprocess, int(batch_size), scale)


def _batches(images: np.ndarray, size: int, preprocess: Callable, batch_size: int,
             scale: float) -> Iterator[np.ndarray]:
    for start in range(0, len(images), batch_size):
        grey = images[start:start + batch_size, :, :, None].astype(np.float32) * np.float32(scale)
        # Resize the single grey channel, then copy it: three times less work than resizing RGB,
        # and the same result, since all three channels are equal.
        resized = ops.convert_to_numpy(ops.image.resize(grey, (size, size), interpolation="bilinear",
                                                        data_format="channels_last"))
        # Bilinear weights are convex, so only float round-off can leave 0-255; clip it away.
        rgb = np.repeat(np.clip(resized, 0.0, 255.0), 3, axis=-1)  # a real copy: preprocess works in place
        yield np.ascontiguousarray(preprocess(rgb), dtype=np.float32)


def fingerprint(images) -> str:
    """A short hash of the pixels, so different images of the same count never share a cache file."""
    return hashlib.blake2b(np.ascontiguousarray(images).tobytes(), digest_size=4).hexdigest()


def feature_path(model_name: str, size: int, weights_sha256: str | None, split_name: str, images,
                 profile: str | None = None) -> Path:
    """Where `extract_features` caches the features of `images` (of `split_name`)."""
    if profile is None:
        profile = current().profile.name
    tag = weights_sha256[:12] if weights_sha256 else "imagenet"
    name = f"{model_name}_{size}_{tag}_{split_name}_{len(images)}_{fingerprint(images)}.npy"
    return paths.cache_dir(profile) / "features" / name


def _expected_shape(base, n: int) -> tuple:
    """(n, *features) with None where the base does not fix a dimension."""
    try:
        return (n, *tuple(base.output_shape)[1:])
    except (AttributeError, ValueError, TypeError):  # a model whose output shape is not known yet
        return (n,)


def _matches(shape: tuple, expected: tuple) -> bool:
    if len(expected) == 1:  # only the count is known: accept any feature shape for n images
        return len(shape) >= 1 and shape[0] == expected[0]
    return len(shape) == len(expected) and all(e is None or s == e for s, e in zip(shape, expected))


def _load_cached(path: Path, expected: tuple) -> np.ndarray | None:
    """The cached features, or None (with the reason printed) when the file cannot be trusted."""
    if not path.is_file():
        return None
    try:
        # Memory-mapped: the pages belong to the file, so several cached feature sets (several GB
        # each at 128 px) can stay open in one notebook without exhausting RAM.
        features = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        print(f"Feature cache {path} is unreadable ({type(exc).__name__}: {exc}); recomputing it.")
        return None
    if not _matches(features.shape, expected) or features.dtype != np.float32:
        print(f"Feature cache {path} holds {features.dtype} {features.shape}, expected float32 "
              f"{expected}; recomputing it.")
        return None
    return features


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(paths.repo_root()))
    except ValueError:
        return str(path)


def extract_features(base, images, model_name: str, size: int, weights_sha256: str | None,
                     split_name: str, batch_size: int = 256) -> np.ndarray:
    """The features of `base` (a frozen Keras model) for `images`, computed once and then cached.

    The cache file is ``cache/<profile>/features/<model>_<size>_<weights>_<split>_<n>_<pixels>.npy``,
    where `<weights>` is the first 12 hex digits of `weights_sha256` (``fmnist.learn.weights.imagenet_base``
    returns it), or ``imagenet`` for weights Keras downloaded (include the alpha in `model_name`'s
    caller-side label then), and `<pixels>` a hash of the images. A second call with the same key
    loads the file; an unreadable file or one of the wrong shape is recomputed. The features come
    back memory-mapped from the cache file (read-only), so they take no RAM until they are read.
    """
    preprocess = preprocess_function(model_name)
    size = _check_size(size)
    images = _check_images(images)
    expected_input = tuple(getattr(base, "input_shape", None) or ())[1:3]
    if len(expected_input) == 2 and None not in expected_input and expected_input != (size, size):
        raise ImagenetError(
            f"The base model takes {expected_input[0]}x{expected_input[1]} images but size is {size}: "
            f"build the base with input_shape=({size}, {size}, 3) or pass size={expected_input[0]}."
        )
    n = len(images)
    path = feature_path(model_name, size, weights_sha256, split_name, images)
    expected = _expected_shape(base, n)
    cached = _load_cached(path, expected)
    if cached is not None:
        print(f"Features of {n:,} {split_name} images loaded from cache: {_shown(path)} {cached.shape}")
        return cached

    n_batches = -(-n // batch_size)
    line = progress.Line()  # replaced as batches finish, then by the result: one stored line
    label = f"{model_name} features of {n:,} {split_name} images at {size}x{size}"
    start = time.perf_counter()
    features, done = None, 0
    for index, batch in enumerate(to_rgb_batches(images, size, preprocess, batch_size)):
        # predict_on_batch: inference mode (BatchNormalization uses its ImageNet statistics),
        # compiled once per batch shape on JAX and TensorFlow, without fit/predict's loop overhead
        out = np.asarray(base.predict_on_batch(_padded(batch, batch_size if index else len(batch))),
                         dtype=np.float32)[:len(batch)]
        if features is None:  # the feature shape is known only once the base has run
            features = np.empty((n, *out.shape[1:]), dtype=np.float32)
        features[done:done + len(out)] = out
        done += len(out)
        line.update(f"{label}: {done:,}/{n:,} images, {time.perf_counter() - start:.0f} s")
    with paths.atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:  # a handle, so np.save cannot append a second ".npy"
            np.save(handle, features, allow_pickle=False)
    line.done(f"{label}: {features.shape[1:]} computed in {time.perf_counter() - start:.0f} s "
              f"({n_batches} batches), cached as {_shown(path)}")
    return np.load(path, mmap_mode="r", allow_pickle=False)  # frees the in-memory copy, as for a cached load


def predict_in_batches(model, inputs, batch_size: int = 256) -> np.ndarray:
    """``model``'s outputs for `inputs` (cached activations, say), one batch at a time: float32, in order.

    For the frozen part of a base run over activations cached by `extract_features`: memory stays
    bounded by one batch plus the result, whatever the size of `inputs` (a memory-mapped cache of
    several GB is read a batch at a time), and every batch has the same shape, so nothing compiles
    twice. In inference mode, as `extract_features` runs the bottom.
    """
    n = len(inputs)
    if n == 0:
        raise ImagenetError("predict_in_batches needs at least one input.")
    out = None
    for start in range(0, n, batch_size):
        batch = np.asarray(inputs[start:start + batch_size], dtype=np.float32)
        result = np.asarray(model.predict_on_batch(_padded(batch, batch_size if start else len(batch))),
                            dtype=np.float32)[:len(batch)]
        if out is None:
            out = np.empty((n, *result.shape[1:]), dtype=np.float32)
        out[start:start + len(batch)] = result
    return out

def _padded(batch: np.ndarray, rows: int) -> np.ndarray:
    """`batch` with zero images appended up to `rows`.

    A last batch shorter than the others would make JAX (and TensorFlow) compile the whole base
    again for its shape, tens of seconds for MobileNetV2 on a CPU. In inference mode every image's
    features depend on that image alone, so the padding changes no feature; its rows are dropped.
    """
    if len(batch) >= rows:
        return batch
    return np.concatenate([batch, np.zeros((rows - len(batch), *batch.shape[1:]), dtype=batch.dtype)])


def split_base(base, layer_name: str):
    """Cut a base after `layer_name`: (bottom, top), sharing the base's layers and weights.

    The bottom's outputs can be cached once with `extract_features`; fine-tuning then trains only
    the top on them (VGG16's block 5 after ``block4_pool``, MobileNetV2's blocks 13-16 after
    ``block_12_add``) instead of running the frozen layers every epoch. Every path from the input
    to the output must pass through `layer_name`: a skip connection across the cut is refused.
    """
    names = [layer.name for layer in base.layers]
    if layer_name not in names:
        raise ImagenetError(f"{base.name} has no layer {layer_name!r}; its layers are: {', '.join(names)}.")
    cut = base.get_layer(layer_name).output
    bottom = keras.Model(base.inputs, cut, name=f"{base.name}_to_{layer_name}")
    try:
        top = keras.Model(cut, base.outputs[0], name=f"{base.name}_after_{layer_name}")
    except ValueError:  # older Keras refuses a graph that needs a tensor from before the cut
        top = None
    below = {id(layer) for layer in bottom.layers}
    if top is None or any(id(layer) in below for layer in top.layers):  # newer Keras pulls those layers in
        raise ImagenetError(
            f"{base.name} cannot be cut after {layer_name!r}: a later layer also reads an earlier one (a skip "
            f"connection crosses the cut). Cut at a layer every path goes through, such as a block's final Add.")
    return bottom, top


_announced: set = set()


def imagenet_base(model: str, input_shape: tuple[int, int, int], alpha: float = 1.0, input_tensor=None):
    """`fmnist.learn.weights.imagenet_base`, saying which weights it used once per file, without machine paths.

    A notebook builds the same base once per input size and once per fine-tuning seed; the weights
    line is the same each time, so it is printed the first time only, with the file named by its
    folder setting (``$FMNIST_WEIGHTS_DIR/<file>``) rather than by where that folder is on this machine.
    """
    with contextlib.redirect_stdout(io.StringIO()):
        base, used = weights.imagenet_base(model, input_shape, alpha, input_tensor=input_tensor)
    if used.argument not in _announced:
        _announced.add(used.argument)
        where = used.argument
        folder = os.environ.get("FMNIST_WEIGHTS_DIR")
        if folder and where.startswith(str(Path(folder).expanduser())):
            where = f"$FMNIST_WEIGHTS_DIR/{Path(where).name}"
        elif where != "imagenet":
            where = _shown(Path(where)) if Path(where).is_relative_to(paths.repo_root()) else f"Keras cache/{Path(where).name}"
        digest = f" (sha256 {used.sha256[:16]}…)" if used.sha256 else ""
        label = model if model == "vgg16" else f"{model} (alpha {alpha})"
        print(f"{label} ImageNet weights: {where if where != 'imagenet' else 'downloaded by Keras'}{digest}")
    return base, used


class MirroredActivations(keras.utils.PyDataset):
    """Training batches of cached activations, each image shown as it is or mirrored, drawn anew every epoch.

    Random horizontal flips are the augmentation a garment allows, but a model trained on a frozen
    base's cached activations never sees the images. So the activations of the mirrored images are
    cached too (``extract_features(bottom, images[:, :, ::-1], ...)``), and every epoch shows each image
    once, in a new random order, from one of the two at random: what ``RandomFlip("horizontal")`` in
    front of the base would do, at the cost of one more extraction instead of one per epoch.

    `seed` fixes the draws; by default it is taken from NumPy's global generator, which `over_seeds`
    seeds before every fit, so each training seed gets its own, repeatable draws.
    """

    def __init__(self, activations, mirrored, labels, batch_size: int = 128, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if len(activations) != len(mirrored) or len(activations) != len(labels):
            raise ImagenetError(f"MirroredActivations needs one mirrored activation and one label per image; got "
                                f"{len(activations)} activations, {len(mirrored)} mirrored and {len(labels)} labels.")
        self.activations, self.mirrored, self.labels = activations, mirrored, np.asarray(labels)
        self.batch_size = int(batch_size)
        self._rng = np.random.default_rng(np.random.randint(2**31 - 1) if seed is None else seed)
        self.on_epoch_end()

    def __len__(self) -> int:
        return -(-len(self.labels) // self.batch_size)

    def __getitem__(self, index: int):
        rows = self._order[index * self.batch_size:(index + 1) * self.batch_size]
        flipped = self._flipped[rows]
        batch = np.empty((len(rows), *self.activations.shape[1:]), dtype=np.float32)
        batch[~flipped] = self.activations[rows[~flipped]]
        batch[flipped] = self.mirrored[rows[flipped]]
        return batch, self.labels[rows]

    def on_epoch_end(self):
        self._order = self._rng.permutation(len(self.labels))
        self._flipped = self._rng.random(len(self.labels)) < 0.5
