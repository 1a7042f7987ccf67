"""The one training path of the series: compile, fit over seeds, record.

`compile_and_fit` builds a fresh model for every seed of the active profile, fits it on the
profile's training split with validation on the validation split, and records the validation
accuracy and loss (mean and standard deviation over seeds) in the results registry. The test
split is never touched here: only the final evaluation notebook does that.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import time
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Callable

import keras  # fmnist.setup() has chosen the backend by the time a notebook imports this module
import numpy as np

from fmnist import paths, registry
from fmnist.profiles import Split
from fmnist.repro import seed_everything
from fmnist.session import current


@dataclass
class FitResult:
    """What a stage's training produced: one history and model per seed, and their summary."""

    name: str
    seeds: list[int]
    histories: list[dict] = field(default_factory=list)
    models: list = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    epochs_run: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    seconds_per_epoch: list[float] = field(default_factory=list)
    params: int = 0

    @property
    def best_model(self):
        """The model of the seed with the highest validation accuracy."""
        return self.models[int(np.argmax(self.val_accuracy))]

    def summary(self) -> str:
        acc = registry.summarise(self.val_accuracy)
        spread = f" ± {acc['std']:.4f}" if len(self.seeds) > 1 else ""
        return (f"{self.name}: validation accuracy {acc['mean']:.4f}{spread} over {len(self.seeds)} seed(s), "
                f"{self.params:,} parameters, {statistics.fmean(self.seconds_per_epoch):.1f} s/epoch")


class EpochTimer(keras.callbacks.Callback):
    """Keeps the wall time of each epoch (the first one includes compilation)."""

    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def _tensorboard_available() -> bool:
    """Whether Keras' TensorBoard callback can run: it writes through tf.summary, so it needs the
    TensorFlow backend (on JAX or torch, TensorFlow is not imported at all, even when installed)."""
    if keras.backend.backend() != "tensorflow":
        return False
    try:
        import tensorboard  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


_said_csv = False


def _csv_logger(log_dir) -> keras.callbacks.Callback:
    """The backend-neutral stand-in for TensorBoard: one CSV row of metrics per epoch."""
    global _said_csv
    if not _said_csv:  # once per kernel, not once per seed
        print(f"TensorBoard logging needs the TensorFlow backend (this is {keras.backend.backend()}): "
              f"logging each epoch's metrics to {log_dir.parent.relative_to(paths.repo_root())}/<run>.csv "
              f"with CSVLogger instead")
        _said_csv = True
    log_dir.parent.mkdir(parents=True, exist_ok=True)
    return keras.callbacks.CSVLogger(str(log_dir.with_suffix(".csv")))


def standard_callbacks(name: str, seed: int, *, early_stopping: int | None, monitor: str,
                       checkpoint: bool, tensorboard: bool, reduce_lr: int | None) -> list:
    """The callbacks a user expects, configured for the running stage and profile."""
    session = current()
    callbacks = []
    if early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor=monitor, patience=early_stopping,
                                                       restore_best_weights=True))
    if reduce_lr:
        callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=reduce_lr))
    if checkpoint:
        folder = paths.models_dir(session.profile.name) / "checkpoints" / session.stage
        folder.mkdir(parents=True, exist_ok=True)
        callbacks.append(keras.callbacks.ModelCheckpoint(str(folder / f"{name}_seed{seed}.keras"),
                                                         monitor=monitor, save_best_only=True))
    if tensorboard:
        log_dir = paths.logs_dir(session.profile.name, session.stage) / f"{name}_seed{seed}"
        callbacks.append(keras.callbacks.TensorBoard(log_dir=str(log_dir)) if _tensorboard_available()
                         else _csv_logger(log_dir))
    return callbacks


def _finished_paths(name: str, seed: int) -> tuple:
    """Where a finished seed is kept for `resume`: its trained model and what its fit measured."""
    session = current()
    folder = paths.models_dir(session.profile.name) / "checkpoints" / session.stage
    return folder / f"{name}_seed{seed}.finished.keras", folder / f"{name}_seed{seed}.finished.json"


def _serialized(thing) -> object:
    """A JSON-able description of an optimizer or loss given by name or as an object."""
    if isinstance(thing, str):
        return thing
    return keras.saving.serialize_keras_object(thing)


def _sample_rows(array) -> bytes:
    """Shape, dtype and every k-th row (about a thousand rows) of an array, as bytes to hash."""
    array = np.asarray(array)
    rows = array.reshape(len(array), -1)[::max(1, len(array) // 1000)]
    return repr((array.shape, array.dtype.str)).encode() + np.ascontiguousarray(rows).tobytes()


def fit_fingerprint(model, optimizer, settings: dict, arrays) -> str:
    """What makes two fits the same: architecture, initial weights, optimizer, settings and data.

    The initial weights cover the seed and any weights copied in by `build` (a head trained
    earlier); the data are hashed through their shapes and a sample of their rows.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps({"settings": settings, "optimizer": _serialized(optimizer),
                              "model": json.loads(model.to_json())}, sort_keys=True, default=str).encode())
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    for array in arrays:
        digest.update(_sample_rows(array))
    return digest.hexdigest()[:16]


def _load_finished(name: str, seed: int, fingerprint: str):
    """The model and measurements of a finished seed with this fingerprint, or None (with the reason)."""
    model_path, info_path = _finished_paths(name, seed)
    if not info_path.exists():
        return None
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        if info.get("fingerprint") != fingerprint:
            print(f"{info_path.name}: made with another model, data or settings; training seed {seed} again.")
            return None
        return keras.saving.load_model(model_path), info
    except Exception as exc:  # an unreadable leftover must never stop a run: train again instead
        print(f"{info_path.name}: unreadable ({type(exc).__name__}: {exc}); training seed {seed} again.")
        return None


def _save_finished(name: str, seed: int, model, info: dict) -> None:
    """Keep a finished seed (model first, then its measurements, each written atomically)."""
    model_path, info_path = _finished_paths(name, seed)
    info_path.unlink(missing_ok=True)  # never a description without the model it describes
    with paths.atomic_path(model_path) as tmp:
        model.save(tmp)
    paths.write_text_atomic(info_path, json.dumps(info, indent=1) + "\n")


def compile_and_fit(build: Callable[[], object], split: Split, name: str, *, epochs: int,
                    batch_size: int = 128, optimizer: str | Callable[[], object] = "rmsprop",
                    loss="sparse_categorical_crossentropy", seeds: list[int] | None = None,
                    early_stopping: int | None = None, monitor: str = "val_loss",
                    reduce_lr: int | None = None, checkpoint: bool = True, tensorboard: bool = True,
                    callbacks: Callable[[], list] | None = None, record: bool = True,
                    verbose: int = 2, train_data: tuple | None = None,
                    augment: dict | None = None,
                    train_batches: Callable[[int], object] | None = None,
                    record_as: str = "validation", extra: dict | None = None,
                    resume: bool = False) -> FitResult:
    """Fit a fresh model per seed of the active profile and record validation accuracy and loss.

    `build` returns a new, uncompiled model; `optimizer` is a name or a function returning a
    new optimizer (an optimizer instance cannot be shared between models). `epochs` is what
    the stage wants; the profile may cap it. `early_stopping` is a patience in epochs, with the
    best weights restored. `callbacks` returns extra callbacks for each seed. `train_data`
    replaces the profile's training split (for example, resized data). `augment` holds the
    arguments of `fmnist.augment.augment_batch` (e.g. ``{"shift": 0.1, "flip": True}``): the
    training images are then transformed anew every epoch, seeded per seed. `train_batches`
    returns, for a seed, a ``keras.utils.PyDataset`` of training batches (for example
    `fmnist.imagenet.ImagenetBatches`), used instead of the split's arrays. `record_as` names
    the registry split of the record (``"screen"`` for notebook 04's screening runs) and `extra`
    is added to it. `loss` is a name or a ``keras.losses.Loss``.

    `resume=True` keeps every finished seed (model and measurements) beside the checkpoints and,
    when the same fit runs again (same architecture, initial weights, optimizer, settings and
    data), reuses it instead of training: a notebook that dies after an hour (out of memory, a
    closed laptop) picks up at the first unfinished seed. It says so for each reused seed.
    """
    session = current()
    profile = session.profile
    seeds = profile.seeds if seeds is None else list(seeds)
    epochs = profile.epochs(epochs)
    x_train, y_train = train_data if train_data is not None else (split.x_train, split.y_train)
    result = FitResult(name=name, seeds=seeds)
    settings = {"name": name, "epochs": epochs, "batch_size": batch_size, "loss": _serialized(loss),
                "early_stopping": early_stopping, "monitor": monitor, "reduce_lr": reduce_lr, "augment": augment}
    resumable = resume and train_batches is None and callbacks is None  # those two cannot be fingerprinted
    for seed in seeds:
        seed_everything(seed)
        model = build()
        seed_optimizer = optimizer() if callable(optimizer) else optimizer
        if resumable:
            fingerprint = fit_fingerprint(model, seed_optimizer, {**settings, "seed": seed},
                                          (x_train, y_train, split.x_val, split.y_val))
            finished = _load_finished(name, seed, fingerprint)
            if finished is not None:
                model, info = finished
                print(f"--- {name}, seed {seed}: reused the fit finished {info['finished']} (same model, "
                      f"weights, data and settings; delete {_finished_paths(name, seed)[1].name} to train again)")
                result.histories.append(info["history"])
                result.models.append(model)
                result.val_accuracy.append(info["val_accuracy"])
                result.val_loss.append(info["val_loss"])
                result.epochs_run.append(info["epochs_run"])
                result.seconds.append(info["seconds"])
                result.seconds_per_epoch.append(info["seconds_per_epoch"])
                result.params = model.count_params()
                continue
        model.compile(optimizer=seed_optimizer, loss=loss, metrics=["accuracy"])
        timer = EpochTimer()
        fit_callbacks = [timer] + standard_callbacks(
            name, seed, early_stopping=early_stopping, monitor=monitor, checkpoint=checkpoint,
            tensorboard=tensorboard, reduce_lr=reduce_lr) + (callbacks() if callbacks else [])
        print(f"--- {name}, seed {seed} ({profile.name} profile, {len(y_train):,} training images, "
              f"up to {epochs} epochs)")
        start = time.perf_counter()
        if train_batches is not None:
            inputs = {"x": train_batches(seed)}
        elif augment:
            from fmnist.augment import AugmentedBatches

            inputs = {"x": AugmentedBatches(x_train, y_train, batch_size, seed=seed, **augment)}
        else:
            inputs = {"x": x_train, "y": y_train, "batch_size": batch_size}
        # Validation batches as large as the evaluation's below: on JAX every new batch shape
        # compiles the step anew, and one shape for both saves two compilations per model.
        history = model.fit(**inputs, epochs=epochs, validation_data=(split.x_val, split.y_val),
                            validation_batch_size=1024, callbacks=fit_callbacks, verbose=verbose)
        result.seconds.append(time.perf_counter() - start)
        val_loss, val_acc = model.evaluate(split.x_val, split.y_val, batch_size=1024, verbose=0)
        result.histories.append({k: [float(v) for v in vs] for k, vs in history.history.items()})
        result.models.append(model)
        result.val_accuracy.append(float(val_acc))
        result.val_loss.append(float(val_loss))
        result.epochs_run.append(len(history.history["loss"]))
        later = timer.times[1:] or timer.times  # the first epoch includes compilation
        result.seconds_per_epoch.append(statistics.fmean(later))
        result.params = model.count_params()
        if resumable:
            _save_finished(name, seed, model, {
                "fingerprint": fingerprint, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "history": result.histories[-1], "val_accuracy": result.val_accuracy[-1],
                "val_loss": result.val_loss[-1], "epochs_run": result.epochs_run[-1],
                "seconds": result.seconds[-1], "seconds_per_epoch": result.seconds_per_epoch[-1]})
    if record:
        registry.record(session.stage, name, record_as, result.val_accuracy, result.val_loss,
                        seeds=seeds, params=result.params, epochs=result.epochs_run,
                        train_seconds=round(statistics.fmean(result.seconds), 1), profile=profile.name,
                        extra={"seconds_per_epoch": round(statistics.fmean(result.seconds_per_epoch), 2),
                               "batch_size": batch_size,
                               "optimizer": optimizer if isinstance(optimizer, str) else "custom",
                               "augment": augment or None,
                               "training_images": len(y_train), **(extra or {})})
    print(result.summary())
    return result


def cross_validate(build: Callable[[], object], x: np.ndarray, y: np.ndarray, *, folds: int = 5,
                   epochs: int, batch_size: int = 128, optimizer: str | Callable[[], object] = "rmsprop",
                   seed: int = 0) -> list[float]:
    """Stratified k-fold cross-validation with a fresh model in every fold; the fold accuracies.

    (A model re-used across folds would start later folds already trained on their validation
    data: one of the mistakes of the source documents.)
    """
    from sklearn.model_selection import StratifiedKFold

    scores = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fold, (train_idx, val_idx) in enumerate(splitter.split(np.zeros(len(y)), y), 1):
        seed_everything(seed)
        model = build()
        model.compile(optimizer=optimizer() if callable(optimizer) else optimizer,
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x[train_idx], y[train_idx], epochs=current().profile.epochs(epochs),
                  batch_size=batch_size, verbose=0)
        _, accuracy = model.evaluate(x[val_idx], y[val_idx], batch_size=1024, verbose=0)
        scores.append(float(accuracy))
        print(f"fold {fold}/{folds}: validation accuracy {accuracy:.4f}")
    return scores


def without_optimizer(model):
    """An uncompiled copy of a Sequential or functional model with the same weights.

    Rebuilt from its config: `keras.models.clone_model` copies the compile state as well, and
    saving the clone would store the optimizer's variables all the same.
    """
    copy = type(model).from_config(model.get_config())
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
