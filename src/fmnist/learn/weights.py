"""ImageNet weights for the transfer-learning stage, offline or online, and which ones were used.

`resolve()` looks for the weight file of a base model in this order, the same for every entry
point (make, `fmnist run`, pytest, a notebook opened in JupyterLab):

1. the folder named by ``$FMNIST_WEIGHTS_DIR``, if set (then the file must be there);
2. ``models/imagenet/`` in the repository (git-ignored; README says what to put there);
3. Keras' own cache, ``~/.keras/models/``;
4. otherwise Keras downloads the official file (``weights="imagenet"``), which needs internet.

Files are loaded by path, since Keras checks an md5 of its own file when asked for
``"imagenet"`` and an offline copy may differ from it byte for byte.
`imagenet_base()` builds the frozen-able base and turns a failed download into an error that
gives Keras' reason and names the folder to put the file in.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from fmnist import paths
from fmnist.errors import FmnistError

KERAS_MODELS_DIR = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras") / "models"  # Keras' weight cache
DEFAULT_DIR = Path("models") / "imagenet"  # inside the repository, git-ignored


def default_dir() -> Path:
    """The repository's folder for offline ImageNet weights (``models/imagenet/``)."""
    return paths.repo_root() / DEFAULT_DIR


class WeightsError(FmnistError):
    """ImageNet weights are missing or cannot be loaded."""


@dataclass(frozen=True)
class Weights:
    """What to pass to ``keras.applications`` as ``weights=``, and where it came from."""

    argument: str  # a file path, or "imagenet"
    source: str  # for the notebook to print
    sha256: str | None = None


def file_name(model: str, alpha: float = 1.0) -> str:
    """Keras' file name for the no-top ImageNet weights of `model` ("vgg16" or "mobilenet_v2")."""
    if model == "vgg16":
        return "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    if model == "mobilenet_v2":
        if alpha not in (0.35, 0.5, 0.75, 1.0, 1.3, 1.4):
            raise WeightsError(f"MobileNetV2 has ImageNet weights for alpha 0.35, 0.5, 0.75, 1.0, 1.3 and 1.4, not {alpha}.")
        return f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{alpha}_224_no_top.h5"
    raise WeightsError(f"Unknown base model {model!r}: use 'vgg16' or 'mobilenet_v2'.")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def resolve(model: str, alpha: float = 1.0) -> Weights:
    """The weights to use for `model`: a local file if there is one, else Keras' download."""
    name = file_name(model, alpha)
    folder = os.environ.get("FMNIST_WEIGHTS_DIR")
    if folder:
        path = Path(folder).expanduser() / name
        if not path.is_file():
            raise WeightsError(
                f"FMNIST_WEIGHTS_DIR={folder} has no {name}. Put the file there, point "
                f"FMNIST_WEIGHTS_DIR at the folder that has it, or unset it to use {DEFAULT_DIR}/ "
                f"or let Keras download the official weights (needs internet)."
            )
        # the file name only: stored notebook outputs must not show a machine's paths
        return Weights(str(path), f"file {name} (sha256 {sha256(path)[:16]}…, from $FMNIST_WEIGHTS_DIR)", sha256(path))
    local = default_dir() / name
    if local.is_file():
        digest = sha256(local)
        return Weights(str(local), f"file {DEFAULT_DIR / name} (sha256 {digest[:16]}…, repository folder)", digest)
    cached = KERAS_MODELS_DIR / name
    if cached.is_file():
        return Weights(str(cached), f"file {name} (sha256 {sha256(cached)[:16]}…, Keras cache)", sha256(cached))
    return Weights("imagenet", "downloaded by Keras (official ImageNet weights)")


def imagenet_base(model: str, input_shape: tuple[int, int, int], alpha: float = 1.0, input_tensor=None):
    """The convolutional base of `model` with ImageNet weights, without its classifier.

    `input_tensor` builds the base on a tensor of an existing graph (a layer's output), so that its
    layers sit in that graph itself rather than in a nested model.
    """
    # Keras only here: finding the file (`resolve`, the tests' fixtures) must not choose the backend
    import keras

    weights = resolve(model, alpha)
    try:
        if model == "vgg16":
            base = keras.applications.VGG16(include_top=False, weights=weights.argument, input_shape=input_shape,
                                            input_tensor=input_tensor)
        else:
            base = keras.applications.MobileNetV2(include_top=False, weights=weights.argument,
                                                  input_shape=input_shape, alpha=alpha, input_tensor=input_tensor)
    except Exception as exc:
        if weights.argument == "imagenet":
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else "no message"
            raise WeightsError(
                f"Keras could not download the ImageNet weights for {model} ({type(exc).__name__}: {reason}). "
                f"Offline, create the folder {DEFAULT_DIR}/ in the repository and put "
                f"{file_name(model, alpha)} in it (or set FMNIST_WEIGHTS_DIR to a folder holding it)."
            ) from None
        raise WeightsError(f"{weights.argument}: cannot be loaded as {model} weights ({exc}).") from None
    print(f"{model}{'' if model == 'vgg16' else f' (alpha {alpha})'} ImageNet weights: {weights.source}")
    return base, weights
