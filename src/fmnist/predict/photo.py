"""Image files brought to Fashion-MNIST's form for `fmnist predict`: light item on black, 28x28.

Fashion-MNIST items are light on a black background, 28x28 grey pixels, the item scaled so its
longer side fills the frame and centred. Product photos are none of that, so each image is brought
to the dataset's form, and every change is reported:

1. decoded with Pillow (PNG, JPEG, anything Pillow reads), with bounded memory: images over
   `MAX_PIXELS` are refused before decoding; larger than `WORK_SIDE` pixels, a JPEG is decoded at
   a reduced scale and anything else is downscaled before conversion. Turned upright as a camera's
   EXIF orientation says, and converted to grey levels;
2. transparent images use their alpha channel as the item's outline, and are composited on the
   background the item stands out from (black for a light item, white for a dark one);
3. inverted when the border is light (brighter than mid-grey and than the inside): products were
   photographed on white and the dataset negated them;
4. the background is estimated from the border as a plane (so gradients and off-white count as
   background) with its noise level; pixels above it by more than 5% of the range left (as the
   dataset trimmed its photographs) or four times the noise are the item, after a 3x3 median for
   faint broad areas. Specks away from the item (groups of pixels, nearby ones merged, with under
   5% of the largest group's) are ignored, and everything off the item is set to black;
5. cropped to the item, the longer side scaled to 28 pixels (Lanczos) and centred on a black 28x28 canvas.

An image that is already 28x28 keeps its geometry (only steps 3 and a levelling of its background
apply), so exported test images come back unchanged and are predicted exactly as their arrays are.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from fmnist.errors import FmnistError

SIZE = 28
FRAME = 2  # width of the border, in pixels, that decides which side is the background (28x28 images)
THRESHOLD = 0.05 * 255  # "background" is within 5% of full intensity, as in the dataset's trimming
HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")
ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
MAX_PIXELS = 200_000_000  # about 600 MB as RGB: beyond that, a scan or a bomb, not a product photo
WORK_SIDE = 1024  # the item is scaled to 28 pixels anyway; more only costs memory and time
NOISE_SIGMAS = 4.0  # Gaussian noise passes 4 sigma in 3 pixels of 100,000: the speck filter takes those
SPECK_FRACTION = 0.05  # groups smaller than this share of the largest group are specks, not item parts
OUTLINE_MARGIN = 10  # grey levels between an item's inside and its outline that say which side it is on


class ImageError(FmnistError):
    """An image file that cannot be read or holds nothing to classify."""


@dataclass
class Prepared:
    """An image in Fashion-MNIST's form: uint8 (28, 28), light item on black, and what was done."""

    pixels: np.ndarray
    steps: list[str] = field(default_factory=list)


@dataclass
class Decoded:
    """An image file as grey levels 0-255 (float), the item's outline from its alpha channel, and the steps."""

    gray: np.ndarray
    mask: np.ndarray | None
    steps: list[str] = field(default_factory=list)


# --- reading --------------------------------------------------------------------------------------

@contextmanager
def _own_pixel_limit():
    """Pillow's decompression-bomb check off, for the time of one open: `read_image` applies `MAX_PIXELS`
    itself before decoding, and says so in one line instead of Pillow's warning or its error text."""
    before = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = before


def read_image(path: Path | str) -> Decoded:
    """The image at `path`, decoded with bounded memory and converted to grey; `ImageError` if unusable."""
    path = Path(path)
    if not path.exists():
        raise ImageError(f"{path}: no such file.")
    if path.is_dir():
        raise ImageError(f"{path}: is a folder, not an image file.")
    if path.stat().st_size == 0:
        raise ImageError(f"{path}: empty file (0 bytes); export the image again.")
    try:
        with _own_pixel_limit(), Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:  # the header alone says so: nothing decoded yet
                raise ImageError(
                    f"{path}: too large to decode safely ({width}x{height}, {width * height / 1e6:.0f} "
                    f"megapixels; the limit is {MAX_PIXELS / 1e6:.0f}): scale it down first.")
            frames = getattr(image, "n_frames", 1)
            # Cameras store photos as shot and say in EXIF how to turn them; the model needs them upright.
            turned = image.getexif().get(0x0112, 1) not in (0, 1)
            if max(width, height) > WORK_SIDE:
                image.draft(None, (WORK_SIDE, WORK_SIDE))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            image.load()  # decode now: a truncated file fails here rather than half-read later
            decoded = _convert(ImageOps.exif_transpose(image) if turned else image, (width, height))
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file Pillow can read; use a PNG or JPEG.") from None
    except MemoryError:
        raise ImageError(f"{path}: not enough memory to decode it; scale it down first.") from None
    except Exception as exc:  # Pillow reports damaged data as OSError, SyntaxError, ValueError, zlib.error...
        raise ImageError(f"{path}: corrupt or truncated image ({type(exc).__name__}: {exc}); "
                         f"export or download it again.") from None
    if turned:
        decoded.steps.insert(0, "turned upright as its EXIF orientation says")
    if frames > 1:
        decoded.steps.insert(0, f"used the first of {frames} frames")
    return decoded


def read_gray(path: Path | str) -> tuple[np.ndarray, list[str]]:
    """The image at `path` as grey levels 0-255 (float, transparency composited), and the conversions made."""
    decoded = read_image(path)
    return decoded.gray, decoded.steps


def _convert(image, original: tuple[int, int]) -> Decoded:
    """Grey levels (and alpha outline) of a decoded image, downscaled to `WORK_SIDE` before converting."""
    mode, steps = image.mode, []
    transparent = mode in ALPHA_MODES or (mode == "P" and "transparency" in image.info)
    if mode in HIGH_BIT_MODES:
        # Pillow's convert("L") clips 16-bit values at 255; scale them instead (in float, after downscaling).
        high = mode.startswith("I;16") or image.getextrema()[1] > 255
        image = image.convert("F")
    elif transparent:
        image = image.convert("RGBA")
    elif mode not in ("L", "RGB"):
        # through RGB, which every mode Pillow decodes converts to (some, such as LAB, not to L)
        image = image.convert("L") if mode == "1" else image.convert("RGB")
    if max(image.size) > WORK_SIDE:
        image.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
    if image.size != original:
        steps.append(f"downscaled {original[0]}x{original[1]} -> {image.size[0]}x{image.size[1]} first")
    if mode in HIGH_BIT_MODES:
        values = np.asarray(image, dtype=np.float64)
        if high:
            values = values * (255 / 65535)
            steps.append(f"scaled {mode} grey levels to 8 bits")
        return Decoded(np.clip(values, 0, 255), None, steps)
    gray = np.asarray(image.convert("L"), dtype=np.float64)
    if transparent:
        alpha = np.asarray(image.getchannel("A"), dtype=np.float64) / 255
        return _composite(gray, alpha, mode, steps)
    if mode != "L":
        steps.append(f"converted {mode} to grayscale")
    return Decoded(gray, None, steps)


def _composite(gray: np.ndarray, alpha: np.ndarray, mode: str, steps: list[str]) -> Decoded:
    """Put a transparent image on the background its item stands out from; its opaque part is the item.

    Transparent pixels hold arbitrary colours, and white, the dataset's photographic background,
    hides a light item. An item lighter inside than at its outline was cut out of a dark background
    (the dataset's own look), one darker inside out of a light one; otherwise its mean decides.
    """
    mask = alpha >= 0.5
    if mask.all() or not mask.any():  # nothing transparent (or nothing opaque): no outline to use
        return Decoded(gray * alpha + 255 * (1 - alpha), None,
                       steps + [f"composited {mode} on white and converted to grayscale"])
    outline = mask & ~ndimage.binary_erosion(mask, iterations=max(1, round(0.02 * max(mask.shape))))
    inside = mask & ~outline
    difference = gray[inside].mean() - gray[outline].mean() if inside.any() else 0.0
    light = difference > 0 if abs(difference) >= OUTLINE_MARGIN else gray[mask].mean() > 127.5
    background = 0.0 if light else 255.0
    steps.append(f"composited {mode} on {'black (a light item)' if light else 'white (a dark item)'} "
                 f"and converted to grayscale")
    return Decoded(gray * alpha + background * (1 - alpha), mask, steps)


# --- to Fashion-MNIST's form ------------------------------------------------------------------------

def to_fashion_mnist(gray: np.ndarray, mask: np.ndarray | None = None) -> Prepared:
    """Bring grey levels (any size, 0-255) to Fashion-MNIST's form; see the module docstring.

    `mask`, if given, is the item's outline (from an alpha channel) and replaces finding the item.
    """
    gray = np.asarray(gray, dtype=np.float64)
    if gray.max() == gray.min():
        raise ImageError(f"uniform image (every pixel has grey level {gray.max():.0f}): nothing to classify.")
    if gray.shape == (SIZE, SIZE) and mask is None:
        return _dataset_sized(gray)
    steps = []
    border = max(FRAME, round(0.02 * min(gray.shape)))
    frame, inside = gray[_border(gray.shape, border)], gray[~_border(gray.shape, border)]
    # The median: sensor noise or texture must not swing the decision. (28x28 images: see _dataset_sized.)
    if np.median(frame) > 127.5 and (inside.size == 0 or np.median(frame) > inside.mean()):
        gray = 255 - gray
        steps.append("inverted (light background)")
    plane, noise = _background(gray, border)
    residual = gray - plane
    if plane.max() > THRESHOLD:
        low, high = plane.min(), plane.max()
        steps.append(f"background grey level {plane.mean():.0f} lowered to black" if high - low < 10 else
                     f"uneven background (grey levels {low:.0f}-{high:.0f}) lowered to black")
    if mask is None:
        mask, specks = _find_item(residual, plane, noise, border)
        if noise >= 2:
            steps.append(f"background noise of {noise:.0f} grey levels ignored")
        if specks:
            steps.append(f"{specks} speck{'s' if specks > 1 else ''} away from the item ignored")
    if not mask.any():
        raise ImageError("nothing stands out from the background (contrast under 5%, or under 4 times its "
                         "noise): nothing to classify; photograph the item on a plain background of a "
                         "contrasting colour.")
    # A pixel or so around the item keeps its faint anti-aliased edge; beyond that is background.
    edge = max(1, round(0.005 * max(gray.shape)))
    support = ndimage.binary_dilation(ndimage.binary_fill_holes(mask), iterations=edge)
    # Per pixel, as the dataset's negation of a photo on white did: the background becomes 0, black 255.
    levelled = np.clip(residual * (255 / np.maximum(255 - plane, 1.0)), 0, 255) * support
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    crop = np.rint(levelled[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]).astype(np.uint8)
    return Prepared(*_fit(crop, steps))


def _dataset_sized(gray: np.ndarray) -> Prepared:
    """A 28x28 image: inverted and levelled if need be, its geometry kept (exports come back exactly)."""
    steps = []
    frame = gray[_border(gray.shape, FRAME)]
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
    if not (gray > THRESHOLD).any():
        raise ImageError("nothing stands out from the background (contrast under 5%): nothing to classify; "
                         "photograph the item on a plain background of a contrasting colour.")
    return Prepared(np.rint(gray).astype(np.uint8), steps + ["already 28x28: size kept"])


def _border(shape: tuple[int, int], width: int) -> np.ndarray:
    """The outer `width`-pixel border (all pixels, for images too small to have an inside)."""
    mask = np.ones(shape, dtype=bool)
    mask[width:-width, width:-width] = False
    return mask


def _background(gray: np.ndarray, border: int) -> tuple[np.ndarray, float]:
    """The background as a plane fitted to the border (off-white, gradients), and its noise (robust sigma).

    Border pixels far from the fit are left out and the plane fitted again: an item touching the
    edge is not background.
    """
    height, width = gray.shape
    rows, cols = np.nonzero(_border(gray.shape, border))
    values = gray[rows, cols]
    design = np.column_stack([np.ones(len(values)), rows / height, cols / width])
    keep = np.ones(len(values), dtype=bool)
    for _ in range(3):
        coef = np.linalg.lstsq(design[keep], values[keep], rcond=None)[0]
        residual = values - design @ coef
        noise = 1.4826 * float(np.median(np.abs(residual[keep] - np.median(residual[keep]))))
        keep = np.abs(residual) <= max(3 * noise, 2.0)
    # broadcast, not a grid of coordinates: two fewer full-size arrays
    plane = coef[0] + coef[1] * (np.arange(height)[:, None] / height) + coef[2] * (np.arange(width)[None, :] / width)
    return plane, noise


def _find_item(residual: np.ndarray, plane: np.ndarray, noise: float, border: int) -> tuple[np.ndarray, int]:
    """The item's pixels (above the background by 5% of the range or 4 noise sigmas), and how many specks
    were dropped: groups of pixels (nearby ones merged) with under `SPECK_FRACTION` of the largest's pixels."""
    floor = 0.05 * (255 - plane)
    smooth = ndimage.median_filter(residual, size=3)
    smooth_noise = 1.4826 * float(np.median(np.abs(smooth[_border(smooth.shape, border)])))
    # Raw pixels keep thin straps the median would erase; the median finds faint areas noise would hide.
    found = ((residual > np.maximum(floor, NOISE_SIGMAS * noise))
             | (smooth > np.maximum(floor, NOISE_SIGMAS * smooth_noise)))
    if not found.any():
        return found, 0
    # Parts of one item (a sandal's straps) lie close together: merge what lies within 1% of the image.
    grown = ndimage.binary_dilation(found, iterations=max(1, round(0.01 * max(found.shape))))
    labels, count = ndimage.label(grown, structure=np.ones((3, 3)))
    sizes = np.asarray(ndimage.sum(found, labels, index=np.arange(1, count + 1)))
    kept = np.flatnonzero(sizes >= SPECK_FRACTION * sizes.max()) + 1
    return found & np.isin(labels, kept), count - len(kept)


def _fit(crop: np.ndarray, steps: list[str]) -> tuple[np.ndarray, list[str]]:
    """The crop with its longer side scaled to 28 (Lanczos), centred on a black 28x28 canvas."""
    height, width = crop.shape
    scale = SIZE / max(height, width)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    resized = Image.fromarray(crop).resize((new_width, new_height), Image.Resampling.LANCZOS)
    canvas = np.zeros((SIZE, SIZE), dtype=np.uint8)
    top, left = (SIZE - new_height) // 2, (SIZE - new_width) // 2
    canvas[top:top + new_height, left:left + new_width] = np.asarray(resized)
    return canvas, steps + [f"cropped {width}x{height} -> resized to {new_width}x{new_height}, centred on 28x28"]


def preprocess(path: Path | str) -> Prepared:
    """The image file at `path` in Fashion-MNIST's form, with every step taken; `ImageError` if unusable."""
    decoded = read_image(path)
    try:
        prepared = to_fashion_mnist(decoded.gray, decoded.mask)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc}") from None
    prepared.steps = decoded.steps + prepared.steps
    return prepared
