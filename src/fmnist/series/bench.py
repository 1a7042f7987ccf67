"""`fmnist bench`: speed measured by comparing paths in one run, never by a test with a time limit.

`bench` trains notebook 04's final architecture (read from its saved seed model, with new weights) on
the full training split with validation every epoch, once per input path, in one process: NumPy
arrays straight into ``model.fit``, `AugmentedBatches` without augmentation, and `AugmentedBatches`
with the augmentation notebook 04 chose (its record's recipe). It prints seconds per epoch for each
and what each costs beyond the arrays, so a change to the input pipeline is judged against the path
before it on the same machine at the same moment. The first epoch includes compilation (seconds on
JAX), so the figures quoted are the mean of the later epochs. Nothing is recorded or saved.
`fmnist bench --block5` times one slow spot instead: VGG16's block 5 on small feature maps (`block5`).
"""

from __future__ import annotations

import statistics
import time

import keras
import numpy as np

from fmnist import paths
from fmnist.errors import FmnistError
from fmnist.learn import registry
from fmnist.learn.augment import AugmentedBatches
from fmnist.learn.profiles import load_split
from fmnist.learn.repro import seed_everything
from fmnist.learn.saved_models import load_model
from fmnist.learn.training import EpochTimer
from fmnist.series.opening import setup

STAGE = "04_regularisation"
MODEL = "final"


def _core(model):
    """The trained network inside a saved model that wraps it in test-time views or an ensemble."""
    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    return _core(max(nested, key=lambda m: m.count_params())) if nested else model


def final_recipe() -> tuple[dict, object]:
    """(recipe, uncompiled model with fresh weights) of notebook 04's final model in the full profile."""
    record = registry.get(STAGE, MODEL, "validation", profile="full")  # an error naming 04 if absent
    seed_model = paths.models_dir("full") / f"{STAGE}_seeds" / "seed0.keras"
    if "recipe" not in (record.get("extra") or {}) or not seed_model.is_file():
        raise FmnistError(f"no final recipe of {STAGE} (its record in results/full.json and its seed models in "
                          f"models/full/{STAGE}_seeds/): run notebook 04 in the full profile first")
    trained = _core(load_model(seed_model))
    return record["extra"]["recipe"], type(trained).from_config(trained.get_config())  # same layers, new weights


def bench(epochs: int = 3, images: int | None = None, seed: int = 0) -> dict:
    """Seconds per epoch of notebook 04's final architecture for each input path, measured in one run."""
    if epochs < 2:
        raise FmnistError(f"--epochs must be at least 2 (the first includes compilation), not {epochs}")
    session = setup("bench", profile="full", quiet=True)
    recipe, model = final_recipe()
    split = load_split()
    x, y = split.x_train[:images], split.y_train[:images]
    augment = recipe.get("augment") or {}
    paths_to_time = {"arrays": lambda: {"x": x, "y": y, "batch_size": 128},
                     "batches, no augmentation": lambda: {"x": AugmentedBatches(x, y, 128, seed=seed)},
                     f"batches, {augment or 'no augmentation'}": lambda: {"x": AugmentedBatches(x, y, 128, seed=seed,
                                                                                               **augment)}}
    print(f"fmnist bench: {STAGE}'s final architecture ({model.count_params():,} parameters, batch 128) on "
          f"{len(y):,} training images, validation on {len(split.y_val):,}, {epochs} epochs per input path; "
          f"backend {session.backend} on {session.device}")
    result = {"backend": session.backend, "device": session.device, "images": len(y), "epochs": epochs, "paths": {}}
    for name, inputs in paths_to_time.items():
        seed_everything(seed)
        fresh = type(model).from_config(model.get_config())
        fresh.compile(keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        timer = EpochTimer()
        fresh.fit(**inputs(), epochs=epochs, validation_data=(split.x_val, split.y_val), validation_batch_size=1000,
                  callbacks=[timer], verbose=0)
        later = statistics.fmean(timer.times[1:])
        result["paths"][name] = {"first_epoch_s": round(timer.times[0], 2), "seconds_per_epoch": round(later, 2),
                                 "images_per_s": round(len(y) / later)}
    base = result["paths"]["arrays"]["seconds_per_epoch"]
    for name, timing in result["paths"].items():
        print(f"  {name:40} {timing['seconds_per_epoch']:7.1f} s/epoch ({timing['seconds_per_epoch'] / base - 1:+.0%} "
              f"against arrays), {timing['images_per_s']:,} images/s; first epoch {timing['first_epoch_s']:.1f} s")
    return result


# VGG16's input sizes in notebook 05 and the side of block 4's output (block 5's input) for each
BLOCK5_MAPS = {32: 2, 48: 3, 64: 4}


def block5(images: int = 1024, channels: int = 512, seed: int = 0) -> dict[int, float]:
    """Seconds to run `images` feature maps through a stack shaped like VGG16's block 5, per input size.

    Three 3x3 convolutions with 512 filters and a pooling, on the maps block 4 gives for 32, 48 and
    64 px inputs (2x2, 3x3, 4x4): XLA's CPU convolution (JAX) is far slower on 2x2 maps than on the
    larger ones, which is most of notebook 05's time on JAX in the smoke profile. Random weights: the
    time does not depend on them. Timed after a first call, which compiles. `channels` is VGG16's 512
    unless a test wants a small stack.
    """
    session = setup("bench", profile="full", quiet=True)
    rng = np.random.default_rng(seed)
    print(f"fmnist bench --block5: {images:,} feature maps through VGG16's block 5 "
          f"(3 convolutions 3x3x{channels} + pooling), batches of 512; backend {session.backend} on {session.device}")
    seconds = {}
    for size, side in BLOCK5_MAPS.items():
        inputs = keras.Input((side, side, channels))
        x = inputs
        for _ in range(3):
            x = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")(x)
        model = keras.Model(inputs, keras.layers.MaxPooling2D()(x))
        maps = rng.random((images, side, side, channels), dtype=np.float32)
        model.predict(maps[:512], batch_size=512, verbose=0)  # compiles
        started = time.perf_counter()
        model.predict(maps, batch_size=512, verbose=0)
        seconds[size] = time.perf_counter() - started
        print(f"  {size} px input ({side}x{side} maps): {seconds[size]:.2f} s")
    return seconds
