"""One change at a time: a candidate's configuration, the training it implies, and the search.

Notebook 04 describes every candidate model by one flat configuration (a dict). The notebook's
own `build_*` function turns the architecture keys into layers, so the architecture stays in
view; this module turns the training keys into a `compile_and_fit` call and keeps the search:

- ``optimizer`` (rmsprop, adam, adamw, sgd), ``learning_rate``, ``weight_decay`` (AdamW),
  ``schedule`` (None or ``"cosine"``), ``label_smoothing``, ``batch_size``, ``epochs``,
  ``early_stopping`` (patience, best weights restored);
- augmentation: ``shift``, ``rotation``, ``zoom``, ``crop``, ``flip``, ``erase`` (see `fmnist.learn.augment`).

`Search` runs the start configuration, then each proposed change on top of the current best,
judged by `fmnist.learn.decisions.DecisionLog` from the registry's records (the series' paired rule:
same seeds, same images, a margin never below the screen's binomial standard error). `tune` is a small KerasTuner
random search, and `retrain` fits the chosen configuration on training + validation data.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import statistics
import time
from typing import Callable

import keras
import numpy as np

from fmnist import paths
from fmnist.learn import registry
from fmnist.learn.decisions import DecisionLog, Step
from fmnist.errors import FmnistError
from fmnist.learn.losses import SmoothedSparseCrossentropy, make_loss  # noqa: F401  (re-exported: older code imports them here)
from fmnist.learn.profiles import Split
from fmnist.learn.repro import seed_everything
from fmnist.learn.session import current
from fmnist.learn.training import EpochTimer, FitResult, compile_and_fit

AUGMENT_KEYS = ("shift", "rotation", "zoom", "crop", "flip", "erase")
OPTIMIZERS = ("rmsprop", "adam", "adamw", "sgd")


def make_optimizer(config: dict, steps_per_epoch: int, epochs: int):
    """A new optimizer for a configuration; a cosine schedule decays over all `epochs`."""
    name = config.get("optimizer", "rmsprop")
    rate = config.get("learning_rate", 1e-3)
    if config.get("schedule") == "cosine":
        rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=max(1, steps_per_epoch * epochs), alpha=0.01)
    elif config.get("schedule"):
        raise FmnistError(f"unknown schedule {config['schedule']!r}: use None or 'cosine'")
    # Decoupled weight decay (Keras applies `weight_decay` to every optimizer the same way): a
    # configured decay is trained with whatever optimizer the configuration names, never dropped.
    decay = config.get("weight_decay")
    decay = float(decay) if decay else None
    if name == "rmsprop":
        return keras.optimizers.RMSprop(rate, weight_decay=decay)
    if name == "adam":
        return keras.optimizers.Adam(rate, weight_decay=decay)
    if name == "adamw":  # AdamW with no weight_decay key keeps Keras' usual 1e-4 (AdamW means decay)
        return keras.optimizers.AdamW(rate, weight_decay=float(config.get("weight_decay", 1e-4)))
    if name == "sgd":
        return keras.optimizers.SGD(rate, momentum=0.9, nesterov=True, weight_decay=decay)
    raise FmnistError(f"unknown optimizer {name!r}: use one of {', '.join(OPTIMIZERS)}")


def augmentation(config: dict) -> dict | None:
    """The `fmnist.learn.augment.augment_batch` arguments of a configuration, or None for none."""
    chosen = {key: config[key] for key in AUGMENT_KEYS if config.get(key)}
    return chosen or None


def compile_for(model, config: dict, n_train: int, epochs: int | None = None):
    """Compile `model` with the optimizer, schedule and loss of `config`; return it."""
    epochs = current().profile.epochs(epochs or config["epochs"])
    steps = math.ceil(n_train / config.get("batch_size", 128))
    model.compile(optimizer=make_optimizer(config, steps, epochs), loss=make_loss(config), metrics=["accuracy"])
    return model


def fit_config(build: Callable[[dict], object], config: dict, split: Split, name: str, *,
               seeds: list[int] | None = None, record_as: str = "validation", checkpoint: bool = False,
               tensorboard: bool = False, verbose: int = 0, extra: dict | None = None,
               validate_each_epoch: bool = True) -> FitResult:
    """`compile_and_fit` for a configuration: its optimizer, loss, epochs and augmentation."""
    if "epochs" not in config:
        raise FmnistError("the configuration has no 'epochs'")
    epochs = current().profile.epochs(config["epochs"])
    batch_size = config.get("batch_size", 128)
    steps = math.ceil(len(split.y_train) / batch_size)
    return compile_and_fit(lambda: build(config), split, name, epochs=config["epochs"], batch_size=batch_size,
                           optimizer=lambda: make_optimizer(config, steps, epochs), loss=make_loss(config),
                           seeds=seeds, early_stopping=config.get("early_stopping"), monitor="val_accuracy",
                           augment=augmentation(config), validate_each_epoch=validate_each_epoch,
                           record_as=record_as, checkpoint=checkpoint,
                           tensorboard=tensorboard, verbose=verbose, extra={"config": _plain(config), **(extra or {})})


def _plain(config: dict) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()}


def describe(updates: dict) -> str:
    """``key=value`` pairs of a change, for the decision log."""
    return ", ".join(f"{k}={v}" for k, v in updates.items())


TRAINING_MODULES = ("iterations", "training", "augment", "losses", "repro")  # code every screening run goes through


def _sha256(payload) -> str:
    return hashlib.sha256(payload if isinstance(payload, bytes) else
                          json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def source_sha256(function: Callable) -> str | None:
    """A hash of a function's source text, or None when Python cannot show it (then nothing is reused)."""
    try:
        return _sha256(inspect.getsource(function).encode())
    except (OSError, TypeError):
        return None


def package_sha256() -> str:
    """A hash of the package modules every screening run goes through (optimizer, loss, fit, augmentation)."""
    from importlib import import_module

    return _sha256(b"".join(inspect.getsource(import_module(f"fmnist.{name}")).encode() for name in TRAINING_MODULES))


def data_sha256(split: Split) -> str:
    """A fingerprint of exactly the images and labels a run trains and validates on."""
    digest = hashlib.sha256()
    for array in (split.x_train, split.y_train, split.x_val, split.y_val):
        array = np.ascontiguousarray(array)
        digest.update(str((array.shape, array.dtype.str)).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class Search:
    """A configuration that changes one thing at a time, kept only when validation says so.

    Every run is recorded in the registry under the running stage with split ``"screen"``
    and judged against the current best by `DecisionLog`. With `reuse`, a change whose run is
    already recorded is not trained again, but only when everything that decides its numbers is
    the same (`reuse_key`): the hash of the build function's source, of the configuration and of
    the package's training code, the fingerprint of the screen's images, and the protocol (seeds,
    profile, backend, library versions, CPU). Training is deterministic for those, so the numbers
    would be the same; anything else (a record without these fields included) is retrained.
    `reused` lists the reused runs with the time they were made. The start is always trained
    (its curves are needed). The other runs are validated once, after training (their verdict
    needs the final accuracy, not the curve), unless they stop early: a third of a screening run's
    time was its validation passes.
    """

    def seconds(self) -> float:
        """Training time of every run in the log, reused ones included (seconds per seed x seeds)."""
        stage = current().stage
        names = [self.log.start["model"]] + [step.model for step in self.log.steps] + self.references
        return sum(registry.get(stage, n, registry.SCREEN)["train_seconds"] * len(registry.get(
            stage, n, registry.SCREEN)["accuracy"]["values"]) for n in names)

    def __init__(self, build: Callable[[dict], object], split: Split, start: dict, *,
                 seeds: list[int] | None = None, start_name: str = "start", reuse: bool = False):
        self.build, self.split, self.reuse = build, split, reuse
        self.start_name = start_name
        self.seeds = current().profile.seeds[:2] if seeds is None else list(seeds)
        self.config = dict(start)
        self.reused: dict[str, str] = {}  # model name -> when its reused run was recorded
        self.references: list[str] = []  # the best re-measured on other seeds, to pair with a candidate
        self._data = data_sha256(split)
        self._build = source_sha256(build)
        self.results: dict[str, FitResult] = {}
        self.results[start_name] = self._run(self.config, start_name)
        self.log = DecisionLog(registry.get(current().stage, start_name, registry.SCREEN))

    def reuse_key(self, config: dict, seeds: list[int]) -> dict:
        """Everything that decides a screening run's numbers; a recorded run is reused only if all match."""
        from fmnist.learn import environment

        versions = environment.imported_versions()
        session = current()
        return {"build_sha256": self._build, "config_sha256": _sha256(_plain(config)),
                "package_sha256": package_sha256(), "data_sha256": self._data,
                "protocol": {"seeds": list(seeds), "training_images": len(self.split.y_train),
                             "validation_images": len(self.split.y_val), "profile": session.profile.name,
                             "backend": session.backend, "cpu": environment.cpu(),
                             "versions": {k: versions.get(k) for k in ("keras", "numpy", session.backend)}}}

    def _recorded(self, config: dict, name: str, seeds: list[int]) -> tuple[dict | None, str]:
        """The registry's record of exactly this run, or None with the reason it cannot be reused."""
        try:
            entry = registry.get(current().stage, name, registry.SCREEN)
        except FmnistError:
            return None, "not recorded"
        stored = (entry.get("extra") or {}).get("reuse_key")
        if not stored:
            return None, "its record predates the reuse check"
        if self._build is None:
            return None, "the build function's source cannot be read"
        key = self.reuse_key(config, seeds)
        differ = [part for part in key if stored.get(part) != key[part]]
        if differ:
            return None, "changed since: " + ", ".join(d.replace("_sha256", "") for d in differ)
        return entry, ""

    def _run(self, config: dict, name: str, reuse: bool = False, seeds: list[int] | None = None) -> FitResult | None:
        seeds = self.seeds if seeds is None else list(seeds)
        if reuse and self.reuse:
            entry, why = self._recorded(config, name, seeds)
            if entry is not None:
                self.reused[name] = entry["time"]
                print(f"--- {name}: reused the run recorded at {entry['time']} (same build code, configuration, "
                      f"data, seeds and machine; {entry['train_seconds']:.0f} s per seed then)")
                return None
            if why != "not recorded":
                print(f"--- {name}: the recorded run is not reused ({why}); training it again")
        started = time.perf_counter()
        curve = name == self.start_name or bool(config.get("early_stopping"))
        result = fit_config(self.build, config, self.split, name, seeds=seeds, record_as=registry.SCREEN,
                            validate_each_epoch=curve,
                            extra={"validation_images": len(self.split.y_val), "data_sha256": self._data,
                                   "reuse_key": self.reuse_key(config, seeds)})
        print(f"    ({time.perf_counter() - started:.0f} s)")
        return result

    def reuse_frame(self):
        """The runs of this search that were reused, with when they were made (a DataFrame, maybe empty)."""
        import pandas as pd

        return pd.DataFrame([{"run": name, "recorded at": when} for name, when in self.reused.items()],
                            columns=["run", "recorded at"])

    def set_budget(self, change: str, name: str, **updates) -> Step | None:
        """Change the screening protocol (e.g. the epochs) for all later runs, whatever was decided.

        The current best is trained again under the new protocol and becomes the reference that
        later changes must beat; nothing is re-run if the best already uses it.
        """
        if all(self.config.get(key) == value for key, value in updates.items()):
            print(f"{change}: the current best already uses {describe(updates)}")
            return None
        self.config = {**self.config, **updates}
        self.results[name] = self._run(self.config, name, reuse=True)
        return self.log.rebase(change, registry.get(current().stage, name, registry.SCREEN), describe(updates))

    def try_change(self, change: str, name: str, *, seeds: list[int] | None = None, **updates) -> Step:
        """Train the current best with `updates` applied; keep them if validation improves enough.

        With `seeds` other than the search's (fresh seeds, e.g. for a change chosen on the screen
        itself, like a tuner's best), the current best is trained on those seeds too, and the two
        are compared seed by seed.
        """
        unknown = [key for key in updates if key not in self.config]
        if unknown:
            raise FmnistError(f"{change!r}: {', '.join(unknown)} not in the configuration "
                              f"(known: {', '.join(self.config)})")
        candidate = {**self.config, **updates}
        stage = current().stage
        against = None
        if seeds is not None and list(seeds) != self.seeds:
            # the paired rule needs the same seeds on both sides: the best is measured on them too
            reference = f"{name}_reference"
            print(f"--- {reference}: the current best on seeds {list(seeds)}, to pair with {name}")
            self.results[reference] = self._run(self.config, reference, reuse=True, seeds=seeds)
            self.references.append(reference)
            against = registry.get(stage, reference, registry.SCREEN)
        self.results[name] = self._run(candidate, name, reuse=True, seeds=seeds)
        step = self.log.consider(change, registry.get(stage, name, registry.SCREEN), describe(updates), against=against)
        if step.kept:
            self.config = candidate
        return step


def tune(build_hp: Callable, split: Split, config: dict, *, max_trials: int, epochs: int, seed: int = 0):
    """A KerasTuner random search judged on validation accuracy; (best values, trials table).

    `build_hp(hp)` returns a compiled model. Training uses the split's training images with the
    augmentation of `config`; one seed per trial (a screening budget, not a final verdict).
    """
    import keras_tuner
    import pandas as pd

    session = current()
    epochs = session.profile.epochs(epochs)
    folder = paths.cache_dir(session.profile.name) / "tuner"
    # KerasTuner reads seed 0 as "no seed" (`seed or random.randint(...)`) and would draw other trials each run
    tuner = keras_tuner.RandomSearch(build_hp, objective="val_accuracy", max_trials=max_trials, seed=seed + 1,
                                     directory=str(folder), project_name=session.stage, overwrite=True)
    seed_everything(seed)
    augment = augmentation(config)
    if augment:
        from fmnist.learn.augment import AugmentedBatches

        inputs = {"x": AugmentedBatches(split.x_train, split.y_train, config.get("batch_size", 128), seed=seed,
                                        **augment)}
    else:
        inputs = {"x": split.x_train, "y": split.y_train, "batch_size": config.get("batch_size", 128)}
    started = time.perf_counter()
    tuner.search(**inputs, epochs=epochs, validation_data=(split.x_val, split.y_val), verbose=0)
    trials = tuner.oracle.get_best_trials(max_trials)
    # a stepped float such as dropout comes back as 0.30000000000000004: six significant digits say it all
    values = [{key: float(f"{value:.6g}") if isinstance(value, float) else value
               for key, value in trial.hyperparameters.values.items()} for trial in trials]
    table = pd.DataFrame([{**trial_values, "val accuracy": trial.score} for trial_values, trial in zip(values, trials)])
    print(f"{len(trials)} trials of {epochs} epoch(s) on {len(split.y_train):,} images in "
          f"{time.perf_counter() - started:.0f} s")
    return values[0], table


def best_epoch(result: FitResult) -> int:
    """The epoch (from 1) of highest validation accuracy, averaged over seeds and rounded."""
    return round(statistics.fmean(int(np.argmax(h["val_accuracy"])) + 1 for h in result.histories))


def retrain(build: Callable[[dict], object], config: dict, x: np.ndarray, y: np.ndarray, *, epochs: int,
            name: str, seed: int = 0, extra: dict | None = None):
    """Fit `config` on all of (x, y) (training + validation) for `epochs`; record and return the model.

    No data is left to validate on, so the record holds the accuracy on its own training data,
    under the split ``"train+validation"``; only the test set can judge this model. `extra` goes
    into the record too (notebook 04 stores its test-time choice there for notebook 06).
    """
    session = current()
    epochs = session.profile.epochs(epochs)
    seed_everything(seed)
    model = compile_for(build(config), config, len(y), epochs)
    augment = augmentation(config)
    if augment:
        from fmnist.learn.augment import AugmentedBatches

        inputs = {"x": AugmentedBatches(x, y, config.get("batch_size", 128), seed=seed, **augment)}
    else:
        inputs = {"x": x, "y": y, "batch_size": config.get("batch_size", 128)}
    timer = EpochTimer()
    print(f"--- {name}: {len(y):,} images (training + validation), {epochs} epochs, seed {seed}")
    started = time.perf_counter()
    history = model.fit(**inputs, epochs=epochs, callbacks=[timer], verbose=0)
    seconds = time.perf_counter() - started
    registry.record(session.stage, name, "train+validation", history.history["accuracy"][-1],
                    history.history["loss"][-1], seeds=[seed], params=model.count_params(), epochs=epochs,
                    train_seconds=round(seconds, 1), profile=session.profile.name,
                    extra={"config": _plain(config), "training_images": len(y),
                           "note": "accuracy on its own training data: nothing held out", **(extra or {})})
    print(f"{name}: {seconds:.0f} s, training accuracy at the last epoch {history.history['accuracy'][-1]:.4f}")
    return model, history.history
