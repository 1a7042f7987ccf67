"""fmnist.learn.training and fmnist.learn.plots: the shared training path on tiny data."""

from __future__ import annotations

import io
import zipfile

import matplotlib

matplotlib.use("Agg")
import h5py  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import learnable_split  # noqa: E402

from fmnist.learn import plots, registry, saved_models, training  # noqa: E402
from fmnist.learn.augment import AugmentedBatches  # noqa: E402


@pytest.fixture
def tiny_split(scratch_home, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    return learnable_split("98_training_test")


def build_tiny():
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])


def fit_tiny(split, name, *, epochs, seeds, batch_size=128, optimizer="rmsprop", augment=None, **options):
    """What a notebook writes: its compile in `build`, its fit in `fit`, and over_seeds around them."""
    def build():
        model = build_tiny()
        model.compile(optimizer=optimizer() if callable(optimizer) else optimizer,
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(model, callbacks):
        batches = AugmentedBatches(split.x_train, split.y_train, batch_size, seed=0, **(augment or {}))
        return model.fit(batches, epochs=min(epochs, 2), validation_data=(split.x_val, split.y_val),
                         callbacks=callbacks, verbose=0)

    return training.over_seeds(name, build, fit, split, seeds=seeds, **options)


def test_over_seeds_records_every_seed_and_keeps_each_finished_one(tiny_split, scratch_home):
    result = fit_tiny(tiny_split, "tiny", epochs=5, batch_size=32,
                      seeds=[0, 1], early_stopping=3, checkpoint=True)
    assert result.seeds == [0, 1] and len(result.models) == 2 and result.models[0] is not result.models[1]
    assert result.epochs_run == [2, 2]
    assert result.params == 7850
    (entry,) = registry.read("smoke")["records"]
    assert (entry["stage"], entry["model"], entry["split"]) == ("98_training_test", "tiny", "validation")
    assert entry["accuracy"]["values"] == pytest.approx(result.val_accuracy)
    assert entry["loss"]["values"] == pytest.approx(result.val_loss)
    checkpoints = scratch_home / "models" / "smoke" / "checkpoints" / "98_training_test"
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "tiny_seed0.finished.json", "tiny_seed0.finished.keras", "tiny_seed0.keras",
        "tiny_seed1.finished.json", "tiny_seed1.finished.keras", "tiny_seed1.keras"]


def test_same_seed_gives_the_same_result(tiny_split):
    first = fit_tiny(tiny_split, "a", epochs=2, seeds=[3], record=False, checkpoint=False, tensorboard=False)
    second = fit_tiny(tiny_split, "b", epochs=2, seeds=[3], record=False, checkpoint=False, tensorboard=False)
    assert first.val_loss == pytest.approx(second.val_loss, abs=1e-6)


def test_cross_validate_builds_a_fresh_model_per_fold(tiny_split):
    built = []

    def build():
        built.append(build_tiny())
        return built[-1]

    scores = training.cross_validate(build, tiny_split.x_train, tiny_split.y_train, folds=3, epochs=1, batch_size=32)
    assert len(scores) == 3 and len(built) == 3 and len({id(m) for m in built}) == 3
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_save_model_is_atomic_and_loadable(tiny_split, scratch_home):
    model = build_tiny()
    path = saved_models.save_model(model)
    assert path == scratch_home / "models" / "smoke" / "98_training_test.keras"
    assert keras.models.load_model(path).count_params() == 7850
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_plots_are_saved_in_the_stage_folder(tiny_split, scratch_home):
    result = fit_tiny(tiny_split, "tiny", epochs=2, seeds=[0, 1], record=False, checkpoint=False, tensorboard=False)
    plots.plot_history(result, marks={"best": 1})
    conv = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, name="conv")])
    plots.plot_filters(conv, "conv", "filters")
    plots.plot_feature_maps(conv, tiny_split.x_val[:2], ["a", "b"], ["conv"], "maps", channels=4)
    folder = scratch_home / "figures" / "smoke" / "98_training_test"
    assert sorted(p.name for p in folder.iterdir()) == ["filters.png", "maps.png", "tiny.png"]


def test_augmented_batches_without_augmentation_are_the_plain_shuffled_data(tiny_split):
    batches = AugmentedBatches(tiny_split.x_train, tiny_split.y_train, 32, seed=0)
    x, y = batches[0]
    order = batches.order[:32]
    np.testing.assert_array_equal(x, tiny_split.x_train[order])
    np.testing.assert_array_equal(y, tiny_split.y_train[order])


def test_save_model_without_optimizer_is_smaller_and_predicts_the_same(tiny_split, scratch_home):
    result = fit_tiny(tiny_split, "tiny", epochs=1, seeds=[0], record=False, checkpoint=False, tensorboard=False, optimizer="adam")
    model = result.models[0]
    full = saved_models.save_model(model, "with_optimizer")
    slim = saved_models.save_model(model, "without_optimizer", include_optimizer=False)
    assert slim.stat().st_size < 0.6 * full.stat().st_size  # Adam keeps two moments per weight
    with zipfile.ZipFile(slim) as archive, archive.open("model.weights.h5") as weights:
        assert "optimizer" not in h5py.File(io.BytesIO(weights.read()), "r")
    loaded = keras.models.load_model(slim)
    assert not loaded.compiled
    assert np.allclose(loaded.predict(tiny_split.x_val), model.predict(tiny_split.x_val))


def test_save_model_without_optimizer_drops_a_nested_models_optimizer_too(tiny_split, scratch_home):
    """Notebook 05 wraps its compiled fine-tuned model in the layers below it; that inner model's Adam
    moments (twice its weights) must not be saved either."""
    inner = build_tiny()
    inner.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    inner.fit(tiny_split.x_train[:64], tiny_split.y_train[:64], epochs=1)
    inputs = keras.Input(tiny_split.x_train.shape[1:])
    outer = keras.Model(inputs, inner(keras.layers.Identity()(inputs)))
    slim = saved_models.save_model(outer, "nested_without_optimizer", include_optimizer=False)
    with zipfile.ZipFile(slim) as archive, archive.open("model.weights.h5") as weights:
        names = []
        h5py.File(io.BytesIO(weights.read()), "r").visit(names.append)
    assert not [n for n in names if "optimizer" in n.split("/")]
    loaded = keras.models.load_model(slim)
    assert np.allclose(loaded.predict(tiny_split.x_val), outer.predict(tiny_split.x_val))


def test_resume_reuses_finished_seeds_and_retrains_when_anything_changes(tiny_split, scratch_home, capsys):
    first = fit_tiny(tiny_split, "tiny", epochs=2, seeds=[0, 1], resume=True)
    folder = scratch_home / "models" / "smoke" / "checkpoints" / "98_training_test"
    assert {"tiny_seed0.finished.keras", "tiny_seed0.finished.json", "tiny_seed1.finished.json"} <= {
        p.name for p in folder.iterdir()}
    capsys.readouterr()

    again = fit_tiny(tiny_split, "tiny", epochs=2, seeds=[0, 1], resume=True)
    out = capsys.readouterr().out
    assert out.count("reused the fit finished") == 2 and "Epoch" not in out
    assert again.val_accuracy == first.val_accuracy and again.histories == first.histories
    assert again.seconds == first.seconds and again.epochs_run == first.epochs_run
    np.testing.assert_allclose(again.models[1].predict(tiny_split.x_val[:8]),
                               first.models[1].predict(tiny_split.x_val[:8]), rtol=1e-5)
    entry = registry.get("98_training_test", "tiny", profile="smoke")
    assert entry["accuracy"]["values"] == pytest.approx(first.val_accuracy)

    # another learning rate, other data, another seed's file damaged: each is trained again
    fit_tiny(tiny_split, "tiny", epochs=2, seeds=[0], resume=True,
                             optimizer=lambda: keras.optimizers.Adam(1e-2))
    assert "made with another model, data or settings; training seed 0 again" in capsys.readouterr().out
    reordered = tiny_split._replace(x_val=tiny_split.x_val[::-1])
    fit_tiny(reordered, "tiny", epochs=2, seeds=[0], resume=True)
    assert "made with another model, data or settings; training seed 0 again" in capsys.readouterr().out
    (folder / "tiny_seed1.finished.json").write_text("{not json")
    fit_tiny(tiny_split, "tiny", epochs=2, seeds=[1], resume=True)
    assert "tiny_seed1.finished.json: unreadable (JSONDecodeError" in capsys.readouterr().out


def test_without_resume_nothing_is_kept_or_reused(tiny_split, scratch_home, capsys):
    fit_tiny(tiny_split, "plain", epochs=1, seeds=[0], resume=False)
    fit_tiny(tiny_split, "plain", epochs=1, seeds=[0], resume=False)
    assert "reused" not in capsys.readouterr().out
    folder = scratch_home / "models" / "smoke" / "checkpoints" / "98_training_test"
    assert not list(folder.glob("*.finished.*"))


def test_a_changed_value_the_fit_reads_is_a_changed_fit(tiny_split, scratch_home, capsys):
    """`epochs=EPOCHS` reads the same in the source whether EPOCHS is 1 or 2: the value counts."""
    for epochs in (1, 2, 2):
        def fit(model, callbacks):
            return model.fit(tiny_split.x_train, tiny_split.y_train, epochs=epochs, callbacks=callbacks, verbose=0)
        result = training.over_seeds("reads", build_tiny_compiled, fit, tiny_split, seeds=[0], record=False)
        assert result.epochs_run == [epochs]
    assert capsys.readouterr().out.count("reused the fit finished") == 1


def build_tiny_compiled():
    model = build_tiny()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_over_seeds_runs_the_notebooks_own_fit_and_records_it(tiny_split, scratch_home, capsys):
    seen = []

    def fit(model, callbacks):
        seen.append([type(c).__name__ for c in callbacks])
        return model.fit(tiny_split.x_train, tiny_split.y_train, validation_data=(tiny_split.x_val, tiny_split.y_val),
                         epochs=2, batch_size=32, callbacks=callbacks, verbose=0)

    result = training.over_seeds("tiny_view", build_tiny_compiled, fit, tiny_split, seeds=[0, 1],
                                 early_stopping=1, checkpoint=False, tensorboard=False)
    assert len(seen) == 2 and "EarlyStopping" in seen[0] and "Progress" in seen[0]
    assert result.epochs_run[0] <= 2 and len(result.models) == 2
    out = capsys.readouterr().out
    assert "tiny_view, seed 0:" in out and "best" in out and "Epoch 1/" not in out
    assert len(out.splitlines()) == 3  # one line per seed and the summary
    assert registry.get("98_training_test", "tiny_view")["seeds"] == [0, 1]


def test_over_seeds_refuses_an_uncompiled_model(tiny_split):
    with pytest.raises(training.FmnistError, match="not compiled"):
        training.over_seeds("x", build_tiny, lambda m, c: None, tiny_split, seeds=[0], record=False)


def test_best_epoch_follows_the_monitored_direction():
    history = {"val_loss": [0.5, 0.3, 0.4], "val_accuracy": [0.1, 0.2, 0.9]}
    assert training.best_epoch(history, "val_loss") == 2
    assert training.best_epoch(history, "val_accuracy") == 3
