"""`fmnist predict`: classify image files with a saved model, after making them look like Fashion-MNIST.

Fashion-MNIST items are light on a black background, 28x28 grey pixels, the item scaled so its
longer side fills the frame and centred. Photographs are none of that, so each image is first
brought to the dataset's form, and every change is reported:

1. decoded with Pillow (PNG, JPEG, or anything else Pillow reads), turned upright as a camera's
   EXIF orientation says, transparent pixels put on white, and converted to 8-bit grayscale;
2. inverted when its border is light (brighter than mid-grey and than the inside): products were
   photographed on white and the dataset negated them;
3. a background still lighter than black is lowered to black;
4. cropped to the item (pixels more than 5% above the background, as the dataset trimmed its
   photographs), the longer side scaled to 28 pixels (Lanczos) and centred on a black 28x28 canvas.

An image that is already 28x28 keeps its geometry, so exported test images come back unchanged
and are predicted exactly as their arrays are. A file that cannot be used is reported as one line
on stderr and the others are still predicted; the exit status is then 1.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fmnist import paths
from fmnist.data import CLASS_NAMES
from fmnist.errors import FmnistError
from fmnist.native_logs import quiet_native_logs

SIZE = 28
DEFAULT_MODEL = Path("models") / "full" / "04_regularisation.keras"
FRAME = 2  # width of the border, in pixels, that decides which side is the background
THRESHOLD = 0.05 * 255  # "background" is within 5% of full intensity, as in the dataset's trimming
HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


class ImageError(FmnistError):
    """An image file that cannot be read or holds nothing to classify."""


class ModelError(FmnistError):
    """The model to predict with is missing, unreadable or does not take Fashion-MNIST images."""


@dataclass
class Prepared:
    """An image in Fashion-MNIST's form: uint8 (28, 28), light item on black, and what was done."""

    pixels: np.ndarray
    steps: list[str] = field(default_factory=list)


# --- reading and converting ---------------------------------------------------------------------

def read_gray(path: Path | str) -> tuple[np.ndarray, list[str]]:
    """The image at `path` as a float array of grey levels 0-255, and the conversions made."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file.")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes); export the image again.")
    try:
        with Image.open(path) as image:
            image.load()  # decode now: a truncated file fails here rather than half-read later
            frames = getattr(image, "n_frames", 1)
            # Cameras store photos as shot and say in EXIF how to turn them; the model needs them upright.
            turned = image.getexif().get(0x0112, 1) not in (0, 1)
            gray, steps = _to_gray(ImageOps.exif_transpose(image) if turned else image)
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file Pillow can read; use a PNG or JPEG.") from None
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: too large to decode safely ({exc}); scale it down first.") from None
    except Exception as exc:  # Pillow reports damaged data as OSError, SyntaxError, ValueError, zlib.error...
        raise ImageError(f"{path}: corrupt or truncated image ({type(exc).__name__}: {exc}); "
                         f"export or download it again.") from None
    if turned:
        steps.insert(0, "turned upright as its EXIF orientation says")
    if frames > 1:
        steps.insert(0, f"used the first of {frames} frames")
    return gray, steps


def _to_gray(image) -> tuple[np.ndarray, list[str]]:
    from PIL import Image

    mode, steps = image.mode, []
    if mode in HIGH_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        # Pillow's convert("L") clips 16-bit values at 255; scale them instead.
        if mode.startswith("I;16") or values.max() > 255:
            values = values * (255 / 65535)
            steps.append(f"scaled {mode} grey levels to 8 bits")
        return np.clip(values, 0, 255), steps
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        # Transparent pixels hold arbitrary colours; the dataset's products were shot on white.
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("L"), dtype=np.float64), [
            f"composited {mode} on white and converted to grayscale"]
    if mode != "L":
        # through RGB, which every mode Pillow decodes converts to (some, such as LAB, not to L)
        image = image.convert("L") if mode in ("1", "RGB") else image.convert("RGB").convert("L")
        steps.append(f"converted {mode} to grayscale")
    return np.asarray(image, dtype=np.float64), steps


def to_fashion_mnist(gray: np.ndarray) -> Prepared:
    """Bring grey levels (any size, 0-255) to Fashion-MNIST's form; see the module docstring."""
    from PIL import Image

    gray = np.asarray(gray, dtype=np.float64)
    steps = []
    if gray.max() == gray.min():
        raise ImageError(f"uniform image (every pixel has grey level {gray.max():.0f}): nothing to classify.")
    frame = _frame(gray)
    inside = gray[FRAME:-FRAME, FRAME:-FRAME]
    # Either test alone misjudges dataset images: mid-grey inverts 2 of the 70,000 (bags filling
    # the frame), "brighter than the inside" 72 (items touching the edges). Together: none.
    if frame.mean() > 127.5 and (inside.size == 0 or frame.mean() > inside.mean()):
        gray, frame = 255 - gray, 255 - frame
        steps.append("inverted (light background)")
    # A low percentile of the border: the background, even where the item touches the edge.
    background = float(np.percentile(frame, 10))
    if background > THRESHOLD:
        gray = np.clip((gray - background) * (255 / (255 - background)), 0, 255)
        steps.append(f"background grey level {background:.0f} lowered to black")
    item = gray > THRESHOLD
    if not item.any():
        raise ImageError("nothing stands out from the background (contrast under 5%): nothing to classify; "
                         "photograph the item on a plain background of a contrasting colour.")
    pixels = np.rint(gray).astype(np.uint8)
    if gray.shape == (SIZE, SIZE):
        # Already the dataset's size: keep the geometry, so test-set exports predict like their arrays.
        return Prepared(pixels, steps + ["already 28x28: size kept"])
    rows, cols = np.flatnonzero(item.any(axis=1)), np.flatnonzero(item.any(axis=0))
    crop = pixels[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    height, width = crop.shape
    scale = SIZE / max(height, width)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    resized = Image.fromarray(crop).resize((new_width, new_height), Image.Resampling.LANCZOS)
    canvas = np.zeros((SIZE, SIZE), dtype=np.uint8)
    top, left = (SIZE - new_height) // 2, (SIZE - new_width) // 2
    canvas[top:top + new_height, left:left + new_width] = np.asarray(resized)
    steps.append(f"cropped {width}x{height} -> resized to {new_width}x{new_height}, centred on 28x28")
    return Prepared(canvas, steps)


def _frame(gray: np.ndarray) -> np.ndarray:
    """The pixels of the outer FRAME-pixel border (all of them, for images too small to have an inside)."""
    mask = np.ones(gray.shape, dtype=bool)
    mask[FRAME:-FRAME, FRAME:-FRAME] = False
    return gray[mask]


def preprocess(path: Path | str) -> Prepared:
    """The image file at `path` in Fashion-MNIST's form, with every step taken; `ImageError` if unusable."""
    gray, steps = read_gray(path)
    try:
        prepared = to_fashion_mnist(gray)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None
    prepared.steps = steps + prepared.steps
    return prepared


# --- the model ------------------------------------------------------------------------------------

def default_model_path() -> Path:
    """models/full/04_regularisation.keras: the final from-scratch model notebook 04 saves."""
    return paths.repo_root() / DEFAULT_MODEL


def check_model_path(path: Path | str | None) -> Path:
    """The model file to use; `ModelError` saying what to do if it is not there."""
    if path is None:
        chosen = default_model_path()
        if not chosen.is_file():
            raise ModelError(
                f"No model at {chosen}: train and save it by running notebook 04 "
                f"(`fmnist run --only 04`), or pass another .keras file with --model PATH."
            )
        return chosen
    chosen = Path(path)
    if not chosen.is_file():
        raise ModelError(f"--model {chosen}: no such file. Pass the path of a saved .keras model "
                         f"(the notebooks save them under models/<profile>/).")
    return chosen


def load_model(path: Path | str | None = None):
    """The Keras model at `path` (default: `default_model_path()`), loaded without its optimizer."""
    chosen = check_model_path(path)
    # As the runner does: TensorFlow's C++ chatter is not for readers.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_native_logs():
        import keras  # lazily, and with whatever backend the user configured

        # A model fine-tuned with label smoothing carries its loss in a nested model's config, and
        # Keras can only rebuild it once the class is registered, which importing the module does.
        import fmnist.losses  # noqa: F401

        try:
            return keras.models.load_model(chosen, compile=False)
        except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors... for bad files
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise ModelError(
                f"{chosen}: cannot be loaded as a Keras model ({type(exc).__name__}: {first[:200]}). "
                f"Pass a .keras file saved by the notebooks, or re-run the notebook that saves it."
            ) from None


_INPUT_SHAPES = {1: (SIZE * SIZE,), 2: (SIZE, SIZE), 3: (SIZE, SIZE, 1)}


def predict_pixels(model, pixels: np.ndarray, name: str = "the model") -> np.ndarray:
    """Class probabilities (N, 10) for uint8 images (N, 28, 28), scaled to [0, 1] as in training."""
    shape = getattr(model, "input_shape", None)
    dims = tuple(shape[1:]) if isinstance(shape, tuple) else None
    wanted = _INPUT_SHAPES.get(len(dims)) if dims else None
    if wanted is None or any(d is not None and d != w for d, w in zip(dims, wanted)):
        raise ModelError(
            f"{name} expects inputs of shape {shape}; `fmnist predict` gives 28x28 grayscale images, "
            f"like the from-scratch models of notebooks 01-04. Pass one of those with --model."
        )
    x = (np.asarray(pixels, dtype=np.float32) / 255.0).reshape((len(pixels),) + wanted)
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

def command(images: list[str], model: str | None = None, top: int = 3, as_json: bool = False) -> int:
    """`fmnist predict`: 0 if every image was predicted, 1 if any could not be (each said on stderr)."""
    model_path = check_model_path(model)  # before the images: a missing model is one error, not many
    results, prepared = [], {}
    for number, image in enumerate(images):
        try:
            prepared[number] = preprocess(image)
            results.append({"image": image})
        except ImageError as exc:
            print(f"fmnist: error: {exc}", file=sys.stderr)
            results.append({"image": image, "error": str(exc)})
    if prepared:
        loaded = load_model(model_path)
        order = sorted(prepared)
        probs = predict_pixels(loaded, np.stack([prepared[i].pixels for i in order]), str(model_path))
        for i, row in zip(order, probs):
            results[i].update(steps=prepared[i].steps, top=top_k(row, top))
    if as_json:
        print(json.dumps(results, indent=1))
    else:
        _print_table(results, model_path)
    return 1 if len(prepared) < len(images) else 0


def _print_table(results: list[dict], model_path: Path) -> None:
    if not any("top" in result for result in results):
        return
    root = paths.repo_root()
    shown = model_path.resolve().relative_to(root) if model_path.resolve().is_relative_to(root) else model_path
    print(f"Model: {shown}")
    width = max(len(name) for name in CLASS_NAMES)
    for result in results:
        if "top" not in result:
            continue
        print(f"\n{result['image']}: {'; '.join(result['steps'])}")
        for rank, entry in enumerate(result["top"], 1):
            print(f"  {rank:>2}. {entry['class']:<{width}}  {entry['probability']:.4f}")
