"""Saving and loading the series' models: slim saves, every seed's model, and errors that say what to do.

`save_model` writes ``models/<profile>/<stage>.keras`` atomically, optionally without optimizer
state; `load_model` reads any saved model and, when it cannot, says why in full and what fixes it
where the reader is (the Keras version the file needs, the notebook that writes it). The final
evaluation loads every stage's model with `load_stage_model`; `save_seed_models` keeps the model of
every seed a final stage trained, so the test accuracy is reported as a spread over seeds.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from pathlib import Path

from fmnist import paths
from fmnist.errors import FmnistError
from fmnist.learn.native_logs import quiet_native_logs
from fmnist.learn.profiles import get_profile
from fmnist.learn.session import current
from fmnist.learn.stats import EvaluationError

with quiet_native_logs():  # TensorFlow's C++ start-up lines, when this is the process's first import of Keras
    import keras

# A model fine-tuned with label smoothing carries its loss in a nested model's config, and Keras can
# only rebuild it once the class is registered, which importing the module does.
import fmnist.learn.losses  # noqa: F401,E402
# The same for the test-time layers (Views, ViewAverage) that notebooks 04 and 05 save inside their models.
import fmnist.learn.test_time  # noqa: F401,E402

DEFAULT_MODEL = Path("models") / "full" / "04_regularisation.keras"


def _without_compile_configs(config):
    """``config`` with every nested ``compile_config`` removed, at any depth."""
    if isinstance(config, dict):
        return {key: _without_compile_configs(value) for key, value in config.items() if key != "compile_config"}
    if isinstance(config, list):
        return [_without_compile_configs(value) for value in config]
    return config


def without_optimizer(model):
    """An uncompiled copy of a Sequential or functional model with the same weights.

    Rebuilt from its config: `keras.models.clone_model` copies the compile state as well, and
    saving the clone would store the optimizer's variables all the same. A compiled model nested
    inside (notebook 05 wraps its fine-tuned model in the layers below it) carries its own
    ``compile_config``; deserialising it compiles the inner model, so that is dropped too.
    """
    copy = type(model).from_config(_without_compile_configs(model.get_config()))
    copy.set_weights(model.get_weights())
    return copy


def save_model(model, name: str | None = None, include_optimizer: bool = True):
    """Save a model as ``models/<profile>/<stage or name>.keras``, atomically; return the path.

    ``include_optimizer=False`` saves architecture and weights only (an uncompiled copy): a third of
    the size with Adam's two moments gone, and loadable without the training loss. That is what a
    model meant for prediction needs; the `.keras` format itself has no such option.
    """
    session = current()
    target = paths.models_dir(session.profile.name) / f"{name or session.stage}.keras"
    if not include_optimizer:
        model = without_optimizer(model)
    with paths.atomic_path(target) as tmp:
        model.save(tmp)
    print(f"Saved {target.relative_to(paths.repo_root()) if target.is_relative_to(paths.repo_root()) else target}")
    return target


class ModelError(FmnistError):
    """The model to predict with is missing, unreadable or does not take Fashion-MNIST images."""


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


def saved_by(path: Path | str) -> str | None:
    """The Keras version that wrote a ``.keras`` file (its ``metadata.json``), or None if it does not say."""
    try:
        with zipfile.ZipFile(path) as archive:
            return json.loads(archive.read("metadata.json")).get("keras_version")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


def install_advice(version: str) -> str:
    """The one line that installs Keras `version` where the reader is (a Colab cell, or a shell)."""
    if "google.colab" in sys.modules:
        return (f"run `!pip install -q keras=={version}` in a cell, then Runtime > Restart session "
                f"and run the notebook from the top")
    return f"run `pip install keras=={version}` in this environment"


def restore_advice(path: Path) -> str:
    """How to get a damaged model file back where the reader is: git restores a committed one in seconds."""
    root = paths.repo_root()
    resolved = Path(path).resolve()
    shown = resolved.relative_to(root) if resolved.is_relative_to(root) else resolved
    command = f"git checkout -- {shown}"
    where = f"run `!{command}` in a cell" if "google.colab" in sys.modules else f"run `{command}` in the repository"
    stage = resolved.parent.name.removesuffix("_seeds") if resolved.parent.name.endswith("_seeds") else resolved.stem
    notebook = f" notebook {stage[:2]}" if stage[:2].isdigit() else " the notebook that saves it"
    return f"if it is a committed file, {where}; otherwise re-create it by running{notebook}"


def load_model(path: Path | str | None = None):
    """The Keras model at `path` (default: `default_model_path()`), loaded without its optimizer.

    When Keras cannot read the file, `ModelError` gives Keras' whole message, the Keras version that
    wrote the file beside the one installed, and what to do where the reader is.
    """
    chosen = check_model_path(path)
    try:
        with quiet_native_logs():
            return keras.models.load_model(chosen, compile=False)
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError, zipfile errors... for bad files
        cause = f"{type(exc).__name__}: {str(exc).strip() or 'no message'}"
        writer, here = saved_by(chosen), keras.__version__
        if writer and _version(writer) > _version(here):
            advice = (f"It was saved by Keras {writer}, and this is Keras {here}, which cannot read what "
                      f"newer versions write. To use it, {install_advice(writer)}.")
        elif writer is None:
            advice = ("It is not a .keras archive the notebooks write (no metadata.json). Pass a .keras file "
                      "saved by the notebooks, or re-run the notebook that saves it.")
        else:
            advice = (f"It was saved by Keras {writer} (this is {here}). The file may be damaged: "
                      f"{restore_advice(chosen)}.")
        raise ModelError(f"{chosen}: cannot be loaded as a Keras model.\nCause: {cause}\n{advice}") from None


def load_stage_model(stage: str, profile: str | None = None):
    """The model notebook `stage` saved in ``models/<profile>/<stage>.keras``, without its optimizer.

    A missing file is an error that names the notebook to run; loading is `load_model`'s.
    """

    name = get_profile(profile).name
    path = paths.models_dir(name) / f"{stage}.keras"
    if not path.is_file():
        raise EvaluationError(f"No saved model for {stage} in models/{name}/. Run that notebook first: "
                              f"`fmnist run --profile {name} --only {stage[:2]}`.")
    return load_model(path)


MANIFEST = "manifest.json"


def seed_models_dir(stage: str, profile: str | None = None):
    """Where `save_seed_models` keeps a stage's per-seed models: models/<profile>/<stage>_seeds/."""

    return paths.models_dir(get_profile(profile).name) / f"{stage}_seeds"


def _cut_layer(full_model, head) -> str:
    """The layer of `full_model` whose output the nested `head` reads: the frozen features' last layer."""
    if full_model.layers[-1] is not head and full_model.layers[-1].name != head.name:
        raise EvaluationError(f"{full_model.name}: its last layer is not the fitted model {head.name!r}; pass "
                              f"the model built as keras.Model(bottom.inputs, fitted(bottom.outputs[0])).")
    cut = full_model.layers[-2]
    if tuple(cut.output.shape[1:]) != tuple(head.inputs[0].shape[1:]):
        raise EvaluationError(f"{full_model.name}: layer {cut.name!r} gives {tuple(cut.output.shape[1:])}, but the "
                              f"fitted models read {tuple(head.inputs[0].shape[1:])}.")
    return cut.name


def save_seed_models(result, full_model=None, stage: str | None = None, models: list | None = None):
    """Save the model of every seed in `result` (a `FitResult`), without optimizer state; return the folder.

    `models` replaces the fitted models by what should be saved for each seed, in the same order
    (notebook 04 saves each seed's model wrapped in the test-time views it chose).

    Files: ``models/<profile>/<stage>_seeds/seed<N>.keras`` and a ``manifest.json`` listing seeds,
    files and validation accuracies; seeds' files from an earlier run that are not in `result` are
    removed. When the fitted models are a head on frozen features (notebook 05), pass the saved
    stage model as `full_model` (built as ``keras.Model(bottom.inputs, fitted(bottom.outputs[0]))``):
    only the heads are saved, and `load_seed_models` puts each back on the full model's frozen layers.
    """
    session = current()
    stage = stage or session.stage
    models = list(models if models is not None else getattr(result, "models", []))
    if not models or len(models) != len(result.seeds):
        raise EvaluationError(f"{getattr(result, 'name', result)!r} holds {len(models)} model(s) for "
                              f"{len(result.seeds)} seed(s): fit it in this session (a result reused from "
                              f"the registry keeps no models) before saving every seed's model.")
    cut = _cut_layer(full_model, result.best_model) if full_model is not None else None
    folder = seed_models_dir(stage, session.profile.name)
    folder.mkdir(parents=True, exist_ok=True)
    files, size = {}, 0
    for seed, model in zip(result.seeds, models):
        target = folder / f"seed{seed}.keras"
        with paths.atomic_path(target) as tmp:
            without_optimizer(model).save(tmp)
        files[str(seed)] = target.name
        size += target.stat().st_size
    for stale in folder.glob("seed*.keras"):
        if stale.name not in files.values():
            stale.unlink()
    manifest = {"stage": stage, "from": result.name, "seeds": [int(s) for s in result.seeds], "files": files,
                "val_accuracy": [float(a) for a in result.val_accuracy], "features_layer": cut}
    paths.write_text_atomic(folder / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    shown = folder.relative_to(paths.repo_root()) if folder.is_relative_to(paths.repo_root()) else folder
    print(f"Saved the models of {len(files)} seed(s) of {result.name} to {shown}/ ({size / 1e6:.1f} MB"
          f"{', heads on the frozen layers of ' + stage + '.keras' if cut else ''})")
    return folder


def load_seed_models(stage: str, profile: str | None = None) -> tuple[dict, str]:
    """Every seed's model `save_seed_models` kept for `stage`: ``({seed: model}, message)``.

    When there are none (an older run saved only one model per stage), the dict is empty and the
    message says so in one line, with the command that makes them; nothing is raised.
    """

    name = get_profile(profile).name
    folder = seed_models_dir(stage, name)
    rerun = f"re-run notebook {stage[:2]} (`fmnist run --profile {name} --only {stage[:2]}`) to save them"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = {int(seed): folder / file for seed, file in manifest["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}, f"{stage}: no per-seed models in models/{name}/ (this run saved one model per stage); {rerun}."
    missing = [path.name for path in files.values() if not path.is_file()]
    if missing:
        return {}, f"{stage}: per-seed models missing ({', '.join(missing)}); {rerun}."
    models = {seed: load_model(path) for seed, path in files.items()}
    if manifest.get("features_layer"):
        full = load_stage_model(stage, name)
        features = full.get_layer(manifest["features_layer"]).output
        # Each head renamed: the seeds' heads share one name, and a model holding several (notebook 06
        # predicts them in one pass over the shared frozen layers) needs every layer name once.
        models = {seed: keras.Model(full.inputs, keras.Model(head.inputs, head.outputs, name=f"{head.name}_seed{seed}")(features),
                                    name=f"{stage}_seed{seed}")
                  for seed, head in models.items()}
    return models, (f"{stage}: {len(models)} per-seed models of {manifest.get('from', stage)} "
                    f"(seeds {', '.join(map(str, models))})")
