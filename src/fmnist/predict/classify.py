"""`fmnist predict`: classify image files with any saved model of the series, after making them look like Fashion-MNIST.

Each image is first brought to Fashion-MNIST's form, a light item on black, 28x28 (`fmnist.predict.photo`
does that and says how). The model then gets that image as it was trained on it:

- the from-scratch models of notebooks 01-04 (28x28 grey inputs, or 784 values): scaled to [0, 1];
- notebook 05's transfer model (``models/<profile>/05_transfer_learning.keras``, (size, size, 3)
  inputs): resized and passed through its ImageNet base's ``preprocess_input`` by
  `fmnist.learn.imagenet.to_rgb_batches`, as in training. The base and size are read from the model's
  registry record (``results/<profile>.json``, the profile being the model's folder under models/
  and the stage its file name); without a record, the size comes from the model's input shape and
  the base from its layer names, and the table says so; if neither tells, one line says what to run.

Whatever a model does at test time is inside its file: notebook 04 saves its model with the views and
the ensemble of seeds it chose on validation (`fmnist.learn.test_time`), so it predicts here as notebook
06 scores it, and the Model line says what the file does.

`--explain DIR` writes the 28x28 image each input became, as a PNG, and names it. A file that
cannot be used is reported as one line on stderr and the others are still predicted; the exit
status is then 1.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fmnist import paths
from fmnist.learn.data import CLASS_NAMES
from fmnist.errors import FmnistError
from fmnist.learn.native_logs import quiet_native_logs
# saved_models before imagenet: it imports Keras with TensorFlow's native start-up lines silenced, and only
# the first import prints them (this is a command's output; a notebook's setup() has imported Keras already)
from fmnist.learn.saved_models import ModelError, check_model_path, default_model_path, load_model  # noqa: F401
from fmnist.learn import imagenet, registry, test_time
from fmnist.predict.photo import SIZE, ImageError, Prepared, preprocess, read_gray, read_image, to_fashion_mnist  # noqa: F401

BASES = {"mobilenet_v2": "MobileNetV2", "vgg16": "VGG16"}


_INPUT_SHAPES = {1: (SIZE * SIZE,), 2: (SIZE, SIZE), 3: (SIZE, SIZE, 1)}


@dataclass
class ModelInput:
    """What a model takes per image: `shape`, and for an ImageNet transfer model its `base` and `size`.

    `source` says where base and size came from (the registry record, or the model itself).
    """

    shape: tuple
    base: str | None = None
    size: int = SIZE
    source: str = ""

    def describe(self) -> str:
        """How the 28x28 images are fed, for the table's Model line ("" for Fashion-MNIST's own form)."""
        if self.base is None:
            return ""
        return f" ({self.size}x{self.size} RGB, {BASES[self.base]} preprocessing, {self.source})"


def _records_beside(path: Path, stage: str) -> tuple[list[dict], str | None]:
    """`stage`'s records in the registry beside a model saved as models/<profile>/<file>, and its name.

    ([], None) when the model is not in such a folder; the registry is results/<profile>.json.
    """

    folder = path.parent
    if folder.parent.name != "models":
        return [], None
    shown = f"results/{folder.name}.json"
    return [r for r in registry.read(folder.name, folder.parent.parent / shown)["records"] if r["stage"] == stage], shown


def transfer_record(path: Path | str) -> tuple[dict | None, str]:
    """The registry record saying how the transfer model at `path` was fed, and where it was (not) found.

    The profile is the model's folder under models/ and the stage its file name, as notebook 05
    saves it (``models/<profile>/05_transfer_learning.keras``); the registry is
    ``results/<profile>.json`` beside that models/ folder. The record is the stage's record whose
    ``extra`` holds ``base`` and ``input_size`` (``best_transfer`` first). Without one: None, and why.
    """
    path = Path(path).resolve()
    stage = path.stem
    records, shown = _records_beside(path, stage)
    if shown is None:
        return None, f"no registry record: {path.name} is not in models/<profile>/"
    candidates = [r for r in records if {"base", "input_size"} <= set(r.get("extra") or {})]
    candidates.sort(key=lambda r: r["model"] != "best_transfer")
    return (candidates[0], f"from {shown}") if candidates else (None, f"no record of {stage} in {shown}")


def _base_from_layers(model) -> str | None:
    """The ImageNet base a model is built on, from its layers' names (Keras names them per base)."""
    names, stack = set(), [model]
    while stack:
        layer = stack.pop()
        names.add(layer.name)
        stack.extend(getattr(layer, "layers", []))
    if "block1_conv1" in names:
        return "vgg16"
    if "expanded_conv_depthwise" in names or "Conv1" in names:
        return "mobilenet_v2"
    return None


def model_input(model, path: Path | str | None = None, name: str = "the model") -> ModelInput:
    """How to feed `model` (loaded from `path`, if known) 28x28 images; `ModelError` in one line if it cannot be."""
    shape = getattr(model, "input_shape", None)
    dims = tuple(shape[1:]) if isinstance(shape, tuple) else ()
    wanted = _INPUT_SHAPES.get(len(dims))
    if wanted and all(d is None or d == w for d, w in zip(dims, wanted)):
        return ModelInput(wanted)
    if len(dims) != 3 or dims[2] != 3 or dims[0] != dims[1] or (dims[0] is not None and dims[0] < 32):
        raise ModelError(
            f"{name} expects inputs of shape {shape}; `fmnist predict` gives 28x28 grayscale images, or "
            f"RGB ones for notebook 05's transfer model (models/<profile>/05_transfer_learning.keras). "
            f"Pass one of those with --model (05's per-seed files hold only its head).")
    record, where = transfer_record(path) if path is not None else (None, "no registry record without a model file")
    if record is not None:
        base, size = record["extra"]["base"], int(record["extra"]["input_size"])
        if base not in BASES or (dims[0] is not None and dims[0] != size):
            raise ModelError(
                f"{name}: its record ({where}) says {base} at {size}x{size}, but the model takes {shape}; "
                f"re-run notebook 05 so that model and record agree.")
        return ModelInput((size, size, 3), base, size, where)
    base = _base_from_layers(model)
    if base is None or dims[0] is None:
        profile = Path(path).resolve().parent.name if path is not None else "<profile>"
        raise ModelError(
            f"{name} takes {dims[0]}x{dims[1]} RGB images for an ImageNet base, but which base's preprocessing "
            f"is not known ({where}) and its layers do not tell: run notebook 05 "
            f"(`fmnist run --profile {profile} --only 05`), which saves the model with its record.")
    return ModelInput(dims, base, dims[0], f"{where}: size from the model's input, base guessed from its layer names")


def predict_pixels(model, pixels: np.ndarray, name: str = "the model", spec: ModelInput | None = None) -> np.ndarray:
    """Class probabilities (N, 10) for uint8 images (N, 28, 28), fed as `spec` (default: `model_input`) says.

    Fashion-MNIST models get the pixels scaled to [0, 1], as in training; a transfer model gets them
    through `fmnist.learn.imagenet.to_rgb_batches` with its base's preprocessing, as notebook 05 trained it.
    """
    spec = spec or model_input(model, name=name)
    pixels = np.asarray(pixels, dtype=np.uint8)
    if spec.base is None:
        x = (pixels.astype(np.float32) / 255.0).reshape((len(pixels),) + spec.shape)
    else:
        x = np.concatenate(list(imagenet.to_rgb_batches(pixels, spec.size, imagenet.preprocess_function(spec.base))))
    with quiet_native_logs():
        probs = np.asarray(model.predict(x, verbose=0), dtype=np.float64)
    if probs.ndim != 2 or probs.shape[1] != len(CLASS_NAMES):
        raise ModelError(f"{name} gives outputs of shape {probs.shape[1:]}, not the {len(CLASS_NAMES)} "
                         f"Fashion-MNIST classes.")
    if not (np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1.0, atol=1e-3)):
        # A model ending in logits (no softmax): turn its scores into probabilities to report them.
        shifted = np.exp(probs - probs.max(axis=1, keepdims=True))
        probs = shifted / shifted.sum(axis=1, keepdims=True)
    return probs


def top_k(probs: np.ndarray, k: int) -> list[dict]:
    """The `k` most probable classes of one image: [{"class", "probability"}, ...]."""
    order = np.argsort(-probs, kind="stable")[:k]
    return [{"class": CLASS_NAMES[i], "probability": round(float(probs[i]), 6)} for i in order]


# --- the command ------------------------------------------------------------------------------------

def _explain(folder: Path, image: str, pixels: np.ndarray, taken: set[str]) -> str:
    """Write the 28x28 image `image` became to `folder` as a PNG (atomically); return its path."""
    stem = Path(image).stem or "image"
    name, number = f"{stem}.png", 1
    while name in taken:  # two inputs of the same name from different folders keep both explanations
        number += 1
        name = f"{stem}-{number}.png"
    taken.add(name)
    target = folder / name
    try:
        with paths.atomic_path(target) as tmp:
            Image.fromarray(pixels).save(tmp, format="PNG")
    except OSError as exc:
        raise FmnistError(f"--explain {folder}: cannot write {name} ({exc.strerror or exc}); "
                          f"pass a folder you can write to.") from None
    return str(target)


def command(images: list[str], model: str | None = None, top: int = 3, as_json: bool = False,
            explain: str | None = None) -> int:
    """`fmnist predict`: 0 if every image was predicted, 1 if any could not be (each said on stderr).

    `explain`: a folder to write the 28x28 image each input became to, as PNG, named in the output.
    """
    model_path = check_model_path(model)  # before the images: a missing model is one error, not many
    results, prepared = [], {}
    for number, image in enumerate(images):
        try:
            prepared[number] = preprocess(image)
            results.append({"image": image})
        except ImageError as exc:
            print(f"fmnist: error: {exc}", file=sys.stderr)
            results.append({"image": image, "error": str(exc)})
    spec, steps = None, ""
    if prepared:
        loaded = load_model(model_path)
        spec, steps = model_input(loaded, model_path, str(model_path)), test_time.describe(loaded)
        order = sorted(prepared)
        probs = predict_pixels(loaded, np.stack([prepared[i].pixels for i in order]), str(model_path), spec)
        taken: set[str] = set()
        for i, row in zip(order, probs):
            results[i].update(steps=prepared[i].steps)
            if steps:
                results[i]["test_time"] = steps
            if explain is not None:
                results[i]["explained"] = _explain(Path(explain), images[i], prepared[i].pixels, taken)
            results[i]["top"] = top_k(row, top)
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        _print_table(results, model_path, spec, steps)
    return 1 if len(prepared) < len(images) else 0


def _print_table(results: list[dict], model_path: Path, spec: ModelInput | None, steps: str = "") -> None:
    """The Model line (how a transfer model is fed, any test-time step), then each image's steps and top classes."""
    if not any("top" in result for result in results):
        return
    root = paths.repo_root()
    shown = model_path.resolve().relative_to(root) if model_path.resolve().is_relative_to(root) else model_path
    print(f"Model: {shown}{spec.describe() if spec else ''}{f', predicting {steps}' if steps else ''}")
    width = max(len(name) for name in CLASS_NAMES)
    for result in results:
        if "top" not in result:
            continue
        print(f"\n{result['image']}: {'; '.join(result['steps'])}")
        if "explained" in result:
            print(f"  the 28x28 image the model saw: {result['explained']}")
        for rank, entry in enumerate(result["top"], 1):
            print(f"  {rank:>2}. {entry['class']:<{width}}  {entry['probability']:.4f}")
