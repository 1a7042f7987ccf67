"""What is the same around every fit of the series: seeds, callbacks, timing, resume, recording.

The series has one way to train. A notebook writes each model's layers, its `compile` (in a `build`
function) and its `fit` (in a `fit(model, callbacks)` function) and calls `over_seeds`, which builds
a fresh model for every seed of the active profile, fits it, measures it on the validation split and
records the mean and spread over seeds in the results registry. A finished seed is kept, and
reused when the same fit runs again (same fingerprint: architecture, initial weights, optimizer,
the fit's code and the values it reads, data), so an interrupted notebook loses little and a
re-run trains only what changed. The test split is never touched here: only the final evaluation
notebook does that.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import statistics
import time
from datetime import datetime, timezone
from dataclasses import dataclass, field
from typing import Callable

import keras  # fmnist.setup() has chosen the backend by the time a notebook imports this module
import numpy as np
from sklearn.model_selection import StratifiedKFold

from fmnist import paths
from fmnist.learn import progress, registry
from fmnist.errors import FmnistError
from fmnist.learn.profiles import Split
from fmnist.learn.repro import seed_everything
from fmnist.learn.session import current


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
    try:  # optional dependencies: imported only to see whether they are there
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


class Progress(keras.callbacks.Callback):
    """Shows the running epoch on a `fmnist.learn.progress.Line`, replaced every epoch, never appended."""

    def __init__(self, line: progress.Line, label: str):
        super().__init__()
        self.line, self.label = line, label

    def on_train_begin(self, logs=None):
        self.epochs = self.params.get("epochs")

    def on_epoch_end(self, epoch, logs=None):
        shown = ", ".join(f"{k} {v:.4f}" for k, v in (logs or {}).items() if k in _SHOWN)
        self.line.update(f"{self.label}: epoch {epoch + 1}/{self.epochs}  {shown}")


_SHOWN = ("loss", "accuracy", "val_loss", "val_accuracy")


def best_epoch(history: dict, monitor: str = "val_loss") -> int:
    """The 1-based epoch with the best `monitor` value (lowest loss, highest accuracy)."""
    values = history.get(monitor) or history.get("loss") or [0.0]
    pick = np.nanargmin if "loss" in monitor else np.nanargmax
    return int(pick(values)) + 1


_SIMPLE = (int, float, str, bool, type(None))


def _plain(value) -> bool:
    """Numbers, strings, and tuples, lists and dicts of them: values a fit's code can read as settings."""
    if isinstance(value, _SIMPLE):
        return True
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _plain_values(names, namespace: dict) -> dict:
    """The plain values (see `_plain`) among `names` in `namespace`; arrays are hashed as data instead."""
    return {name: namespace[name] for name in names if name in namespace and _plain(namespace[name])}


def _fit_source(fit) -> dict:
    """What a notebook's `fit` function does: its code and the plain values it reads.

    The values matter as much as the code: ``epochs=EPOCHS`` is the same source whether EPOCHS is
    10 or 20, so the closure's and the notebook's plain values that the code names are part of it,
    and a changed fit is never mistaken for a finished one.
    """
    try:
        source = inspect.getsource(fit)
    except (OSError, TypeError):
        source = getattr(fit, "__qualname__", repr(fit))
    code = getattr(fit, "__code__", None)
    if code is None:
        return {"source": source}
    cells = dict(zip(code.co_freevars, (c.cell_contents for c in fit.__closure__ or ())))
    return {"source": source, "reads": {**_plain_values(code.co_names, getattr(fit, "__globals__", {})),
                                        **_plain_values(code.co_freevars, cells)}}


def over_seeds(name: str, build: Callable[[], object], fit: Callable[[object, list], object], split: Split, *,
               seeds: list[int] | None = None, early_stopping: int | None = None, monitor: str = "val_loss",
               reduce_lr: int | None = None, checkpoint: bool = True, tensorboard: bool = True,
               record: bool = True, record_as: str = "validation", extra: dict | None = None,
               resume: bool = True, settings: dict | None = None, data: tuple = ()) -> FitResult:
    """Train `name` once per seed: ``model = build()`` (compiled), ``fit(model, callbacks)``.

    The notebook writes the model, its ``compile`` (in `build`) and its ``fit`` (in `fit`, which
    passes the callbacks it is given on to ``model.fit``); this function adds only what is the same
    for every stage: seeding before each build, the standard callbacks (early stopping with the best
    weights restored, checkpoint, TensorBoard, optional learning-rate reduction), timing, the
    validation measurement on `split`, one summary line per seed instead of per-epoch logs, and the
    record in the results registry (mean and spread over seeds). The test split is never touched.

    Every finished seed is kept beside the checkpoints and reused when the same fit runs again: same
    architecture, initial weights, optimizer, `fit`'s code and the plain values it reads, `settings`
    (anything else the fit depends on) and data (`split` plus `data`); ``resume=False`` trains anew.
    """
    session = current()
    profile = session.profile
    seeds = profile.seeds if seeds is None else list(seeds)
    result = FitResult(name=name, seeds=seeds)
    described = {"name": name, "fit": _fit_source(fit), "early_stopping": early_stopping, "monitor": monitor,
                 "reduce_lr": reduce_lr, **(settings or {})}
    for seed in seeds:
        seed_everything(seed)
        model = build()
        if getattr(model, "optimizer", None) is None:
            raise FmnistError(f"{name}: build() returned a model that is not compiled; "
                              "call model.compile(...) inside build().")
        fingerprint = None
        if resume:
            fingerprint = fit_fingerprint(model, model.optimizer, {**described, "seed": seed, "loss": _serialized(model.loss)},
                                          (split.x_train, split.y_train, split.x_val, split.y_val, *data))
            finished = _load_finished(name, seed, fingerprint)
            if finished is not None:
                model, info = finished
                print(f"{name}, seed {seed}: reused the fit finished {info['finished']} (delete "
                      f"{_finished_paths(name, seed)[1].name} to train again)")
                _append(result, model, info)
                continue
        timer = EpochTimer()
        line = progress.Line()
        callbacks = [timer, Progress(line, f"{name}, seed {seed}")] + standard_callbacks(
            name, seed, early_stopping=early_stopping, monitor=monitor, checkpoint=checkpoint,
            tensorboard=tensorboard, reduce_lr=reduce_lr)
        start = time.perf_counter()
        history = fit(model, callbacks)
        seconds = time.perf_counter() - start
        val_loss, val_acc = model.evaluate(split.x_val, split.y_val, batch_size=1024, verbose=0)
        logs = {k: [float(v) for v in vs] for k, vs in history.history.items()}
        later = timer.times[1:] or timer.times  # the first epoch includes compilation
        info = {"history": logs, "val_accuracy": float(val_acc), "val_loss": float(val_loss),
                "epochs_run": len(logs.get("loss", [])), "seconds": seconds,
                "seconds_per_epoch": statistics.fmean(later) if later else 0.0}
        _append(result, model, info)
        best = f" (best {best_epoch(logs, monitor)})" if monitor in logs else ""  # no curve: validated once, after
        summary = (f"{name}, seed {seed}: {info['epochs_run']} epochs{best}, "
                   f"validation accuracy {val_acc:.4f}, loss {val_loss:.4f}, {seconds:.0f} s")
        line.done(summary)  # the progress line becomes the summary: one stored line per seed
        if resume:
            _save_finished(name, seed, model, {
                "fingerprint": fingerprint, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                **info})
    if record:
        optimizer = getattr(result.models[0], "optimizer", None)
        registry.record(session.stage, name, record_as, result.val_accuracy, result.val_loss,
                        seeds=seeds, params=result.params, epochs=result.epochs_run,
                        train_seconds=round(statistics.fmean(result.seconds), 1), profile=profile.name,
                        extra={"seconds_per_epoch": round(statistics.fmean(result.seconds_per_epoch), 2),
                               "optimizer": type(optimizer).__name__.lower() if optimizer is not None else None,
                               "training_images": len(split.y_train), "validation_images": len(split.y_val),
                               **(extra or {})})
    print(result.summary())
    return result


def _append(result: FitResult, model, info: dict) -> None:
    result.histories.append(info["history"])
    result.models.append(model)
    result.val_accuracy.append(info["val_accuracy"])
    result.val_loss.append(info["val_loss"])
    result.epochs_run.append(info["epochs_run"])
    result.seconds.append(info["seconds"])
    result.seconds_per_epoch.append(info["seconds_per_epoch"])
    result.params = model.count_params()


def cross_validate(build: Callable[[], object], x: np.ndarray, y: np.ndarray, *, folds: int = 5,
                   epochs: int, batch_size: int = 128, optimizer: str | Callable[[], object] = "rmsprop",
                   seed: int = 0) -> list[float]:
    """Stratified k-fold cross-validation with a fresh model in every fold; the fold accuracies.

    (A model re-used across folds would start later folds already trained on their validation
    data: the mistake of the first version of the deep CNN tutorial in
    docs/references.md.)
    """
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


def print_summary(model) -> None:
    """`model.summary()` as plain text: the same table without the terminal colour codes it stores."""
    model.summary(print_fn=lambda line, *args, **kwargs: print(line))
