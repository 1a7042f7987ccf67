"""`fmnist bench`: time the final from-scratch recipe, to compare training paths and backends.

It trains notebook 04's final model afresh (architecture from the committed model file, optimizer,
schedule, loss, batch size and augmentation from its record in the full results registry) on the
full training split, with validation every epoch as in the notebook, for a fixed number of epochs,
and prints seconds per epoch and training images per second. The first epoch includes compilation
(seconds on JAX), so the figures quoted are the mean of the later epochs. Nothing is recorded or
saved: it is a measurement, not a result. `fmnist bench --block5` times one slow spot instead: VGG16's
block 5 on small feature maps (`block5`).
"""

from __future__ import annotations

import statistics
import time

from fmnist.errors import FmnistError

STAGE = "04_regularisation"
MODEL = "final"


def final_recipe() -> tuple[dict, object]:
    """(configuration, uncompiled model with fresh weights) of notebook 04's final model."""
    from fmnist import paths
    from fmnist.learn import registry
    from fmnist.learn.saved_models import load_model

    record = registry.get(STAGE, MODEL, "validation", profile="full")  # an error naming 04 if absent
    config = record.get("extra", {}).get("config")
    model_path = paths.models_dir("full") / f"{STAGE}.keras"
    if not config or not model_path.is_file():
        raise FmnistError(f"no final recipe of {STAGE} (its record in results/full.json and {model_path.name} "
                          f"in models/full/): run notebook 04 in the full profile first")
    trained = load_model(model_path)
    model = type(trained).from_config(trained.get_config())  # same architecture, new weights
    return config, model


def bench(epochs: int = 3, images: int | None = None, seed: int = 0) -> dict:
    """Train the final recipe for `epochs` on the full split (or its first `images`); the timings."""
    from fmnist.learn import iterations
    from fmnist.series.opening import setup
    from fmnist.learn.profiles import load_split
    from fmnist.learn.repro import seed_everything
    from fmnist.learn.training import EpochTimer

    if epochs < 2:
        raise FmnistError(f"--epochs must be at least 2 (the first includes compilation), not {epochs}")
    session = setup("bench", profile="full", quiet=True)
    seed_everything(seed)
    config, model = final_recipe()
    split = load_split()
    x, y = split.x_train[:images], split.y_train[:images]
    batch_size = config.get("batch_size", 128)
    iterations.compile_for(model, config, len(y), epochs)
    augment = iterations.augmentation(config)
    if augment:
        from fmnist.learn.augment import AugmentedBatches

        inputs = {"x": AugmentedBatches(x, y, batch_size, seed=seed, **augment)}
    else:
        inputs = {"x": x, "y": y, "batch_size": batch_size}
    print(f"fmnist bench: {STAGE}'s final recipe ({model.count_params():,} parameters, batch {batch_size}, "
          f"augmentation {augment or 'none'}) on {len(y):,} training images, validation on "
          f"{len(split.y_val):,}, {epochs} epochs; backend {session.backend} on {session.device}")
    timer = EpochTimer()
    started = time.perf_counter()
    model.fit(**inputs, epochs=epochs, validation_data=(split.x_val, split.y_val),
              validation_batch_size=1024, callbacks=[timer], verbose=0)  # as compile_and_fit
    total = time.perf_counter() - started
    for epoch, seconds in enumerate(timer.times, 1):
        print(f"  epoch {epoch}: {seconds:.1f} s{' (includes compilation)' if epoch == 1 else ''}")
    later = statistics.fmean(timer.times[1:])
    result = {"backend": session.backend, "device": session.device, "images": len(y), "epochs": epochs,
              "first_epoch_s": round(timer.times[0], 2), "seconds_per_epoch": round(later, 2),
              "images_per_s": round(len(y) / later), "total_s": round(total, 1)}
    print(f"seconds per epoch (epochs 2-{epochs}, training + validation): {later:.1f}; "
          f"{result['images_per_s']:,} training images/s; first epoch {timer.times[0]:.1f} s; total {total:.0f} s")
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
    import keras
    import numpy as np

    from fmnist.series.opening import setup

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
