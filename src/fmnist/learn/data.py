"""The genuine Fashion-MNIST arrays, found on disk and checked before use.

`load()` looks for the four IDX files in this order:

1. the folder named by ``$FMNIST_DATA_DIR``;
2. ``data/fashion-mnist/`` in the repository;
3. Debian's ``/usr/share/datasets/fashion-mnist/`` (package ``dataset-fashion-mnist``);
4. Keras' own cache (``~/.keras/datasets/fashion-mnist/``), downloading into it if
   the machine is online.

Each file may be gzipped or not. The SHA-256 of the *decompressed* IDX bytes is
checked, because gzip wrappers differ between mirrors while the content does not.
A missing, truncated, corrupt or wrong file (MNIST digits in Fashion's place, for
one) raises `DataError` naming the file, what was expected and how to get the data.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fmnist.errors import DataError
from fmnist.paths import repo_root

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# Where Keras' fashion_mnist.load_data() downloads to: $KERAS_HOME (default ~/.keras)/datasets/fashion-mnist
KERAS_CACHE_DIR = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "datasets" / "fashion-mnist"

# IDX magic numbers: two zero bytes, the element type (0x08 = unsigned byte), the rank.
_MAGIC = {1: 0x00000801, 3: 0x00000803}


@dataclass(frozen=True)
class IdxFile:
    """What one of the four files must be: its name, shape and content hash."""

    name: str
    shape: tuple[int, ...]
    sha256: str


FILES = {
    "train_images": IdxFile("train-images-idx3-ubyte", (60000, 28, 28),
                            "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    "train_labels": IdxFile("train-labels-idx1-ubyte", (60000,),
                            "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    "test_images": IdxFile("t10k-images-idx3-ubyte", (10000, 28, 28),
                           "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    "test_labels": IdxFile("t10k-labels-idx1-ubyte", (10000,),
                           "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
}

HOW_TO_GET = (
    "To get the genuine files: on Debian/Ubuntu run `sudo apt-get install dataset-fashion-mnist`; "
    "or copy train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and "
    "t10k-labels-idx1-ubyte.gz into data/fashion-mnist/ (or any folder named by FMNIST_DATA_DIR); "
    "or run once with internet access so that Keras downloads them."
)


def candidate_dirs() -> list[tuple[str, Path]]:
    """The folders `load()` searches, in order, each with a label saying where it came from."""
    dirs = []
    if os.environ.get("FMNIST_DATA_DIR"):
        dirs.append(("$FMNIST_DATA_DIR", Path(os.environ["FMNIST_DATA_DIR"]).expanduser()))
    dirs.append(("repository data/ folder", repo_root() / "data" / "fashion-mnist"))
    dirs.append(("Debian package dataset-fashion-mnist", DEBIAN_DIR))
    dirs.append(("Keras cache", KERAS_CACHE_DIR))
    return dirs


def permission_denied(path: Path, what: str = "file") -> DataError:
    """The error for a data file or folder this user may not read: not corrupt, so not to be deleted."""
    fix = "chmod a+rx" if what == "folder" else "chmod a+r"
    return DataError(f"{path}: permission denied (the {what} exists but this user may not read it). "
                     f"Make it readable (`{fix} {path}`, with sudo if another user owns it), "
                     f"or point FMNIST_DATA_DIR at a copy you can read.")


def find_file(folder: Path, name: str) -> Path | None:
    """The gzipped or plain copy of `name` in `folder`, or None."""
    for candidate in (folder / f"{name}.gz", folder / name):
        try:
            if candidate.is_file():
                return candidate
        except PermissionError:
            raise permission_denied(folder, "folder") from None
    if folder.is_dir() and not os.access(folder, os.R_OK | os.X_OK):
        # Without search permission is_file() says False rather than raising: say why nothing is found.
        raise permission_denied(folder, "folder")
    return None


def read_bytes(path: Path) -> bytes:
    """The decompressed content of an IDX file, gzipped or not."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
        if head == b"\x1f\x8b":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except PermissionError:
        raise permission_denied(path) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: cannot be read as a (gzipped) IDX file ({exc}); the file is corrupt or "
            f"truncated. Delete it and fetch it again. {HOW_TO_GET}"
        ) from None


def parse_idx(raw: bytes, path: Path, expected_shape: tuple[int, ...]) -> np.ndarray:
    """Decode IDX bytes into a uint8 array, checking magic number, shape and length."""
    rank = len(expected_shape)
    header_len = 4 + 4 * rank
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != _MAGIC[rank]:
        found = raw[:4].hex() if len(raw) >= 4 else f"only {len(raw)} bytes"
        raise DataError(
            f"{path}: not an IDX file of rank {rank} (magic number {_MAGIC[rank]:08x} expected, "
            f"found {found}). {HOW_TO_GET}"
        )
    if len(raw) < header_len:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes). {HOW_TO_GET}")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(rank))
    if shape != tuple(expected_shape):
        raise DataError(
            f"{path}: holds an array of shape {shape}, expected {tuple(expected_shape)}. "
            f"It is not the Fashion-MNIST file of that name. {HOW_TO_GET}"
        )
    expected_len = header_len + int(np.prod(shape))
    if len(raw) != expected_len:
        raise DataError(
            f"{path}: {len(raw)} bytes after decompression, expected {expected_len} for shape "
            f"{shape}; the file is truncated or padded. {HOW_TO_GET}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape).copy()


def read_checked(path: Path, spec: IdxFile) -> np.ndarray:
    """Read one file, verify its content hash, and return the array."""
    raw = read_bytes(path)
    array = parse_idx(raw, path, spec.shape)
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise DataError(
            f"{path}: content SHA-256 is {digest}, expected {spec.sha256}. The file has the right "
            f"format but is not the genuine Fashion-MNIST {spec.name} (MNIST digits, for one, have "
            f"the same format and sizes). {HOW_TO_GET}"
        )
    return array


def locate() -> tuple[str, Path]:
    """The first folder that holds any of the four files, with its label.

    A folder named explicitly by $FMNIST_DATA_DIR must hold them; otherwise folders
    with none of the files are skipped and Keras is asked to download as a last resort.
    """
    names = [spec.name for spec in FILES.values()]
    for label, folder in candidate_dirs():
        if any(find_file(folder, name) for name in names):
            return label, folder
        if label == "$FMNIST_DATA_DIR":
            raise DataError(
                f"FMNIST_DATA_DIR={folder} holds none of the Fashion-MNIST files ({', '.join(names)}, "
                f"gzipped or not). Point it at the folder that does, or unset it. {HOW_TO_GET}"
            )
    return "downloaded by Keras", download()


def download() -> Path:
    """Ask Keras to download the dataset into its cache; a clear error when offline."""
    try:
        from keras.datasets import fashion_mnist  # not at the top: `import fmnist` must leave the backend unchosen

        fashion_mnist.load_data()
    except Exception as exc:  # Keras raises many kinds of errors when offline.
        searched = "; ".join(f"{label}: {folder}" for label, folder in candidate_dirs())
        raise DataError(
            f"Fashion-MNIST was not found on disk (searched {searched}) and the download through "
            f"Keras failed ({type(exc).__name__}). {HOW_TO_GET}"
        ) from None
    return KERAS_CACHE_DIR


_checked: dict = {}  # (path, size, mtime, expected hash) -> array already verified in this process


def load(verbose: bool = False):
    """The genuine Fashion-MNIST arrays: ``(x_train, y_train), (x_test, y_test)``.

    Images are uint8 arrays of shape (N, 28, 28), labels uint8 of shape (N,);
    60,000 training and 10,000 test images. Every file's content hash is checked, once per
    process and file version; callers get their own copies of the arrays.
    """
    label, folder = locate()
    arrays = {}
    for key, spec in FILES.items():
        path = find_file(folder, spec.name)
        if path is None:
            raise DataError(
                f"{folder / (spec.name + '.gz')}: missing (found other Fashion-MNIST files in {folder}, "
                f"the {label}). {HOW_TO_GET}"
            )
        stat = path.stat()
        cache_key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, spec.sha256, spec.shape)
        if cache_key not in _checked:
            _checked[cache_key] = read_checked(path, spec)
        arrays[key] = _checked[cache_key].copy()
    if verbose:
        # where, said without this machine's paths: stored notebook outputs are read on other machines
        inside = folder.resolve().is_relative_to(repo_root()) if folder.exists() else False
        where = f"{folder.resolve().relative_to(repo_root())}/" if inside else f"the {label}"
        print(f"Fashion-MNIST loaded from {where}; SHA-256 of all four files verified.")
    return (arrays["train_images"], arrays["train_labels"]), (arrays["test_images"], arrays["test_labels"])


def prepare(images: np.ndarray) -> np.ndarray:
    """Scale uint8 images to float32 in [0, 1] and add the channel axis: (N, 28, 28, 1)."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"prepare() expects images of shape (N, height, width), got {images.shape}")
    return (images.astype("float32") / 255.0)[..., np.newaxis]
