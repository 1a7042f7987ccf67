"""fmnist.training and fmnist.plots: the shared training path on tiny data."""

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

from fmnist import plots, registry, training  # noqa: E402


@pytest.fixture
def tiny_split(scratch_home, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    return learnable_split("98_training_test")


def build_tiny():
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])


def test_compile_and_fit_records_every_seed(tiny_split, scratch_home):
    result = training.compile_and_fit(build_tiny, tiny_split, "tiny", epochs=5, batch_size=32,
                                      seeds=[0, 1], early_stopping=3, verbose=0)
    assert result.seeds == [0, 1] and len(result.models) == 2 and result.models[0] is not result.models[1]
    assert result.epochs_run == [2, 2]  # the smoke profile caps 5 epochs at 2
    assert result.params == 7850
    (entry,) = registry.read("smoke")["records"]
    assert (entry["stage"], entry["model"], entry["split"]) == ("98_training_test", "tiny", "validation")
    assert entry["accuracy"]["values"] == pytest.approx(result.val_accuracy)
    assert entry["loss"]["values"] == pytest.approx(result.val_loss)
    checkpoints = scratch_home / "models" / "smoke" / "checkpoints" / "98_training_test"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["tiny_seed0.keras", "tiny_seed1.keras"]


def test_same_seed_gives_the_same_result(tiny_split):
    first = training.compile_and_fit(build_tiny, tiny_split, "a", epochs=2, seeds=[3], record=False,
                                     checkpoint=False, tensorboard=False, verbose=0)
    second = training.compile_and_fit(build_tiny, tiny_split, "b", epochs=2, seeds=[3], record=False,
                                      checkpoint=False, tensorboard=False, verbose=0)
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
    path = training.save_model(model)
    assert path == scratch_home / "models" / "smoke" / "98_training_test.keras"
    assert keras.models.load_model(path).count_params() == 7850
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_plots_are_saved_in_the_stage_folder(tiny_split, scratch_home):
    result = training.compile_and_fit(build_tiny, tiny_split, "tiny", epochs=2, seeds=[0, 1], record=False,
                                      checkpoint=False, tensorboard=False, verbose=0)
    plots.plot_history(result, marks={"best": 1})
    conv = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, name="conv")])
    plots.plot_filters(conv, "conv", "filters")
    plots.plot_feature_maps(conv, tiny_split.x_val[:2], ["a", "b"], ["conv"], "maps", channels=4)
    folder = scratch_home / "figures" / "smoke" / "98_training_test"
    assert sorted(p.name for p in folder.iterdir()) == ["filters.png", "maps.png", "tiny.png"]


def test_compile_and_fit_with_augmentation_records_it(tiny_split, scratch_home):
    result = training.compile_and_fit(build_tiny, tiny_split, "tiny_aug", epochs=1, batch_size=32, seeds=[0],
                                      augment={"shift": 0.1, "flip": True}, checkpoint=False,
                                      tensorboard=False, verbose=0)
    assert result.epochs_run == [1]
    assert registry.get("98_training_test", "tiny_aug", profile="smoke")["extra"]["augment"] == {"shift": 0.1, "flip": True}


def test_save_model_without_optimizer_is_smaller_and_predicts_the_same(tiny_split, scratch_home):
    result = training.compile_and_fit(build_tiny, tiny_split, "tiny", epochs=1, seeds=[0], record=False,
                                      checkpoint=False, tensorboard=False, verbose=0, optimizer="adam")
    model = result.models[0]
    full = training.save_model(model, "with_optimizer")
    slim = training.save_model(model, "without_optimizer", include_optimizer=False)
    assert slim.stat().st_size < 0.6 * full.stat().st_size  # Adam keeps two moments per weight
    with zipfile.ZipFile(slim) as archive, archive.open("model.weights.h5") as weights:
        assert "optimizer" not in h5py.File(io.BytesIO(weights.read()), "r")
    loaded = keras.models.load_model(slim)
    assert not loaded.compiled
    assert np.allclose(loaded.predict(tiny_split.x_val, verbose=0), model.predict(tiny_split.x_val, verbose=0))


def test_save_model_without_optimizer_drops_a_nested_models_optimizer_too(tiny_split, scratch_home):
    """Notebook 05 wraps its compiled fine-tuned model in the layers below it; that inner model's Adam
    moments (twice its weights) must not be saved either."""
    inner = build_tiny()
    inner.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    inner.fit(tiny_split.x_train[:64], tiny_split.y_train[:64], epochs=1, verbose=0)
    inputs = keras.Input(tiny_split.x_train.shape[1:])
    outer = keras.Model(inputs, inner(keras.layers.Identity()(inputs)))
    slim = training.save_model(outer, "nested_without_optimizer", include_optimizer=False)
    with zipfile.ZipFile(slim) as archive, archive.open("model.weights.h5") as weights:
        names = []
        h5py.File(io.BytesIO(weights.read()), "r").visit(names.append)
    assert not [n for n in names if "optimizer" in n.split("/")]
    loaded = keras.models.load_model(slim)
    assert np.allclose(loaded.predict(tiny_split.x_val, verbose=0), outer.predict(tiny_split.x_val, verbose=0))


def test_resume_reuses_finished_seeds_and_retrains_when_anything_changes(tiny_split, scratch_home, capsys):
    first = training.compile_and_fit(build_tiny, tiny_split, "tiny", epochs=2, seeds=[0, 1], verbose=0, resume=True)
    folder = scratch_home / "models" / "smoke" / "checkpoints" / "98_training_test"
    assert {"tiny_seed0.finished.keras", "tiny_seed0.finished.json", "tiny_seed1.finished.json"} <= {
        p.name for p in folder.iterdir()}
    capsys.readouterr()

    again = training.compile_and_fit(build_tiny, tiny_split, "tiny", epochs=2, seeds=[0, 1], verbose=0, resume=True)
    out = capsys.readouterr().out
    assert out.count("reused the fit finished") == 2 and "Epoch" not in out
    assert again.val_accuracy == first.val_accuracy and again.histories == first.histories
    assert again.seconds == first.seconds and again.epochs_run == first.epochs_run
    np.testing.assert_allclose(again.models[1].predict(tiny_split.x_val[:8], verbose=0),
                               first.models[1].predict(tiny_split.x_val[:8], verbose=0), rtol=1e-5)
    entry = registry.get("98_training_test", "tiny", profile="smoke")
    assert entry["accuracy"]["values"] == pytest.approx(first.val_accuracy)

    # another learning rate, other data, another seed's file damaged: each is trained again
    training.compile_and_fit(build_tiny, tiny_split, "tiny", epochs=2, seeds=[0], verbose=0, resume=True,
                             optimizer=lambda: keras.optimizers.Adam(1e-2))
    assert "made with another model, data or settings; training seed 0 again" in capsys.readouterr().out
    reordered = tiny_split._replace(x_val=tiny_split.x_val[::-1])
    training.compile_and_fit(build_tiny, reordered, "tiny", epochs=2, seeds=[0], verbose=0, resume=True)
    assert "made with another model, data or settings; training seed 0 again" in capsys.readouterr().out
    (folder / "tiny_seed1.finished.json").write_text("{not json")
    training.compile_and_fit(build_tiny, tiny_split, "tiny", epochs=2, seeds=[1], verbose=0, resume=True)
    assert "tiny_seed1.finished.json: unreadable (JSONDecodeError" in capsys.readouterr().out


def test_without_resume_nothing_is_kept_or_reused(tiny_split, scratch_home, capsys):
    training.compile_and_fit(build_tiny, tiny_split, "plain", epochs=1, seeds=[0], verbose=0)
    training.compile_and_fit(build_tiny, tiny_split, "plain", epochs=1, seeds=[0], verbose=0)
    assert "reused" not in capsys.readouterr().out
    folder = scratch_home / "models" / "smoke" / "checkpoints" / "98_training_test"
    assert not list(folder.glob("*.finished.*"))


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


def test_a_fit_validated_once_after_training_measures_the_same_model(tiny_split, capsys):
    """Screening runs skip the per-epoch validation pass; the verdict's number is the same."""
    every = training.compile_and_fit(build_tiny, tiny_split, "every", epochs=2, seeds=[3], record=False,
                                     checkpoint=False, tensorboard=False, verbose=0)
    once = training.compile_and_fit(build_tiny, tiny_split, "once", epochs=2, seeds=[3], record=False,
                                    checkpoint=False, tensorboard=False, verbose=0, validate_each_epoch=False)
    assert "val_loss" in every.histories[0] and "val_loss" not in once.histories[0]
    assert once.val_accuracy == pytest.approx(every.val_accuracy, abs=1e-6)
    assert once.val_loss == pytest.approx(every.val_loss, abs=1e-5)
    assert "once, seed 3: 2 epochs, validation accuracy" in capsys.readouterr().out  # no "best epoch" without a curve
    with pytest.raises(training.FmnistError, match="early stopping watches the validation curve"):
        training.compile_and_fit(build_tiny, tiny_split, "x", epochs=2, seeds=[3], early_stopping=2,
                                 validate_each_epoch=False)
