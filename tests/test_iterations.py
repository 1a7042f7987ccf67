"""fmnist.learn.iterations: configurations to training, the one-change-at-a-time search, tuning, retraining."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from conftest import learnable_split  # noqa: E402

from fmnist.learn import iterations, registry  # noqa: E402
from fmnist.errors import FmnistError  # noqa: E402
from fmnist.learn.profiles import screen_subset  # noqa: E402

CONFIG = {"units": 16, "optimizer": "adam", "learning_rate": 1e-2, "schedule": None, "label_smoothing": 0.0,
          "batch_size": 32, "epochs": 2, "early_stopping": None, "shift": 0.0, "rotation": 0.0, "zoom": 0.0,
          "flip": False, "erase": 0.0}


@pytest.fixture
def tiny_split(scratch_home, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    return learnable_split("97_iterations_test")


def build_config(config):
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(config["units"], activation="relu"),
                             keras.layers.Dense(10, activation="softmax")])


def test_smoothed_loss_equals_keras_categorical_smoothing():
    y = np.array([0, 3, 9])
    p = np.random.default_rng(1).dirichlet(np.ones(10), 3).astype("float32")
    ours = iterations.SmoothedSparseCrossentropy(0.1)(y, p)
    reference = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)(np.eye(10)[y], p)
    assert float(ours) == pytest.approx(float(reference), rel=1e-5)
    plain = iterations.SmoothedSparseCrossentropy(0.0)(y, p)
    assert float(plain) == pytest.approx(float(keras.losses.SparseCategoricalCrossentropy()(y, p)), rel=1e-5)


def test_smoothed_loss_survives_a_save_and_load(tmp_path):
    model = build_config(CONFIG)
    model.compile(optimizer="adam", loss=iterations.SmoothedSparseCrossentropy(0.2))
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.loss.smoothing == pytest.approx(0.2)


def test_smoothing_out_of_range_is_a_clear_error():
    with pytest.raises(FmnistError, match="label smoothing"):
        iterations.SmoothedSparseCrossentropy(1.0)


def test_make_loss_picks_plain_or_smoothed():
    assert iterations.make_loss({"label_smoothing": 0.0}) == "sparse_categorical_crossentropy"
    assert iterations.make_loss({"label_smoothing": 0.1}).smoothing == pytest.approx(0.1)


@pytest.mark.parametrize("name,cls", [("rmsprop", "RMSprop"), ("adam", "Adam"), ("adamw", "AdamW"), ("sgd", "SGD")])
def test_make_optimizer_knows_every_optimizer(name, cls):
    optimizer = iterations.make_optimizer({"optimizer": name, "learning_rate": 0.01}, 10, 3)
    assert type(optimizer).__name__ == cls


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop", "sgd"])
def test_configured_weight_decay_is_applied_by_every_optimizer(name):
    """04 printed `weight_decay 0.0001` with Adam while Adam was built without it: decay must shrink weights."""
    optimizer = iterations.make_optimizer({"optimizer": name, "learning_rate": 0.1, "weight_decay": 0.5}, 10, 3)
    assert optimizer.weight_decay == pytest.approx(0.5)
    weight = keras.Variable(np.ones(3, dtype="float32"))
    optimizer.apply_gradients([(keras.ops.zeros(3), weight)])  # no gradient: only the decay moves it
    assert np.allclose(keras.ops.convert_to_numpy(weight), 1 - 0.1 * 0.5, atol=1e-6)


def test_no_weight_decay_unless_configured():
    assert not iterations.make_optimizer({"optimizer": "adam", "weight_decay": 0.0}, 10, 3).weight_decay
    assert not iterations.make_optimizer({"optimizer": "rmsprop"}, 10, 3).weight_decay
    assert iterations.make_optimizer({"optimizer": "adamw"}, 10, 3).weight_decay == pytest.approx(1e-4)


def test_cosine_schedule_decays_over_all_steps():
    optimizer = iterations.make_optimizer({"optimizer": "adamw", "learning_rate": 0.01, "schedule": "cosine"}, 10, 3)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.decay_steps == 30
    assert float(schedule(30)) == pytest.approx(0.0001, rel=1e-3)


def test_unknown_optimizer_or_schedule_is_a_clear_error():
    with pytest.raises(FmnistError, match="unknown optimizer 'adagrad'"):
        iterations.make_optimizer({"optimizer": "adagrad"}, 10, 1)
    with pytest.raises(FmnistError, match="unknown schedule"):
        iterations.make_optimizer({"optimizer": "adam", "schedule": "step"}, 10, 1)


def test_augmentation_keeps_only_what_is_switched_on():
    assert iterations.augmentation(CONFIG) is None
    assert iterations.augmentation({**CONFIG, "flip": True, "shift": 0.1}) == {"shift": 0.1, "flip": True}


def test_describe_lists_the_change():
    assert iterations.describe({"dropout": 0.3, "dense": (128,)}) == "dropout=0.3, dense=(128,)"


def test_fit_config_records_the_configuration(tiny_split):
    result = iterations.fit_config(build_config, CONFIG, tiny_split, "cfg", seeds=[0], record_as="screen")
    assert result.epochs_run == [2]
    entry = registry.get("97_iterations_test", "cfg", "screen")
    assert entry["extra"]["config"]["units"] == 16 and entry["extra"]["optimizer"] == "custom"


def test_fit_config_needs_epochs(tiny_split):
    with pytest.raises(FmnistError, match="no 'epochs'"):
        iterations.fit_config(build_config, {k: v for k, v in CONFIG.items() if k != "epochs"}, tiny_split, "x")


def test_search_keeps_a_clear_improvement_and_rolls_back_the_rest(tiny_split):
    search = iterations.Search(build_config, tiny_split, {**CONFIG, "units": 1, "learning_rate": 1e-4},
                               seeds=[0])
    better = search.try_change("much wider and faster", "wide", units=64, learning_rate=1e-2)
    assert better.kept and search.config["units"] == 64
    assert better.parameters == "units=64, learning_rate=0.01"
    worse = search.try_change("starve it", "starved", units=1, learning_rate=1e-5)
    assert not worse.kept and search.config["units"] == 64
    assert list(search.log.frame()["decision"]) == ["kept", "rolled back"]
    assert {r["model"] for r in registry.read("smoke")["records"]} == {"start", "wide", "starved"}
    assert registry.rows(registry.read("smoke")) == []  # screening runs stay out of the results table


def test_a_new_budget_re_measures_the_best_once(tiny_split):
    search = iterations.Search(build_config, tiny_split, {**CONFIG, "epochs": 2}, seeds=[0])
    assert search.set_budget("same budget", "same", epochs=2) is None
    step = search.set_budget("one epoch", "short", epochs=1)
    assert step.kind == "budget" and search.config["epochs"] == 1
    assert search.log.best["model"] == "short" and search.log.best["epochs"] == [1]


def test_reuse_skips_only_an_identical_recorded_run(tiny_split, capsys):
    first = iterations.Search(build_config, tiny_split, CONFIG, seeds=[0])
    first.try_change("wider", "wide", units=64)
    again = iterations.Search(build_config, tiny_split, CONFIG, seeds=[0], reuse=True)
    capsys.readouterr()
    step = again.try_change("wider", "wide", units=64)
    assert "reused the run recorded at" in capsys.readouterr().out
    assert step.mean == first.log.steps[0].mean
    assert again.reused == {"wide": registry.get("97_iterations_test", "wide", "screen")["time"]}
    assert list(again.reuse_frame()["run"]) == ["wide"]
    other = again.try_change("wider still", "wide", units=128)  # same name, other configuration: trained
    out = capsys.readouterr().out
    assert "reused the run" not in out and "not reused (changed since: config)" in out
    assert other.parameters == "units=128"
    assert again.seconds() > 0


def build_config_edited(config):  # the same layers, but the source differs: its runs cannot be reused
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(config["units"], activation="relu", name="hidden"),
                             keras.layers.Dense(10, activation="softmax")])


def test_reuse_needs_the_same_build_code_data_and_a_complete_record(tiny_split, capsys):
    first = iterations.Search(build_config, tiny_split, CONFIG, seeds=[0])
    first.try_change("wider", "wide", units=64)
    edited = iterations.Search(build_config_edited, tiny_split, CONFIG, seeds=[0], reuse=True)
    capsys.readouterr()
    edited.try_change("wider", "wide", units=64)
    assert "not reused (changed since: build)" in capsys.readouterr().out and not edited.reused
    # an older record without the reuse key (e.g. no validation_images) is not a match
    data = registry.read("smoke")
    for r in data["records"]:
        if r["model"] == "wide":
            r["extra"] = {"config": r["extra"]["config"], "training_images": r["extra"]["training_images"]}
    registry.write(data, "smoke")
    again = iterations.Search(build_config_edited, tiny_split, CONFIG, seeds=[0], reuse=True)
    capsys.readouterr()
    again.try_change("wider", "wide", units=64)
    assert "predates the reuse check" in capsys.readouterr().out and not again.reused
    fewer = screen_subset(tiny_split, len(tiny_split.y_train) - 10, len(tiny_split.y_val))
    other_data = iterations.Search(build_config_edited, fewer, CONFIG, seeds=[0], reuse=True)
    capsys.readouterr()
    other_data.try_change("wider", "wide", units=64)
    assert "not reused (changed since: data, protocol)" in capsys.readouterr().out


def test_a_change_on_fresh_seeds_is_paired_with_the_best_on_those_seeds(tiny_split):
    search = iterations.Search(build_config, tiny_split, {**CONFIG, "units": 1, "learning_rate": 1e-4}, seeds=[0])
    step = search.try_change("tuned", "tuned", seeds=[7], units=64, learning_rate=1e-2)
    reference = registry.get("97_iterations_test", "tuned_reference", "screen")
    assert reference["seeds"] == [7] and reference["extra"]["config"]["units"] == 1
    assert registry.get("97_iterations_test", "tuned", "screen")["seeds"] == [7]
    assert step.kept == (step.difference > step.margin) and step.difference == pytest.approx(
        registry.get("97_iterations_test", "tuned", "screen")["accuracy"]["mean"] - reference["accuracy"]["mean"])
    assert search.references == ["tuned_reference"] and search.seconds() > 0


def test_search_rejects_an_unknown_key(tiny_split):
    search = iterations.Search(build_config, tiny_split, CONFIG, seeds=[0])
    with pytest.raises(FmnistError, match="dropuot not in the configuration"):
        search.try_change("typo", "typo", dropuot=0.5)


def test_tune_returns_the_best_trial(tiny_split):
    def build_hp(hp):
        hp.Choice("dropout", [0.1 * 3])  # what a stepped hp.Float gives: 0.30000000000000004
        config = {**CONFIG, "units": hp.Choice("units", [4, 32])}
        return iterations.compile_for(build_config(config), config, len(tiny_split.y_train))

    best, table = iterations.tune(build_hp, tiny_split, CONFIG, max_trials=2, epochs=1)
    assert best["units"] in (4, 32) and len(table) == 2
    assert str(best["dropout"]) == "0.3" and list(table["dropout"]) == [0.3, 0.3]
    assert table["val accuracy"].iloc[0] == table["val accuracy"].max()


def test_tune_draws_the_same_trials_every_time(tiny_split):
    def build_hp(hp):
        config = {**CONFIG, "units": hp.Choice("units", [4, 8, 16, 32]),
                  "learning_rate": hp.Float("learning_rate", 3e-4, 3e-3, sampling="log")}
        return iterations.compile_for(build_config(config), config, len(tiny_split.y_train))

    drawn = [iterations.tune(build_hp, tiny_split, CONFIG, max_trials=3, epochs=1)[1]
             .sort_values("learning_rate")[["units", "learning_rate"]].to_dict("records") for _ in range(2)]
    assert drawn[0] == drawn[1]


def test_best_epoch_averages_over_seeds():
    result = iterations.FitResult("r", [0, 1], histories=[{"val_accuracy": [0.1, 0.5, 0.4]},
                                                          {"val_accuracy": [0.1, 0.2, 0.3, 0.6]}])
    assert iterations.best_epoch(result) == 3  # epochs 2 and 4


def test_retrain_records_training_accuracy_and_uses_augmentation(tiny_split):
    config = {**CONFIG, "flip": True}
    model, history = iterations.retrain(build_config, config, tiny_split.x_train, tiny_split.y_train, epochs=5,
                                        name="all")
    assert len(history["loss"]) == 2  # the smoke profile caps epochs
    entry = registry.get("97_iterations_test", "all", "train+validation")
    assert entry["extra"]["training_images"] == 150 and "nothing held out" in entry["extra"]["note"]
    assert model.count_params() == entry["params"]


def test_screen_subset_is_stratified_and_keeps_validation(tiny_split):
    screen = screen_subset(tiny_split, 50)
    assert len(screen.y_train) == 50 and set(np.bincount(screen.y_train)) == {5}
    assert np.array_equal(screen.x_val, tiny_split.x_val)
    halves = screen_subset(tiny_split, 50, val_size=20)
    assert len(halves.y_val) == 20 and set(np.bincount(halves.y_val)) == {2}
    assert len(screen.indices.train) == 50
    assert screen_subset(tiny_split, 1000).y_train.shape == tiny_split.y_train.shape


def test_screen_subset_rejects_a_bad_size(tiny_split):
    from fmnist.errors import ProfileError

    with pytest.raises(ProfileError, match="positive sizes"):
        screen_subset(tiny_split, 0)
    with pytest.raises(ProfileError, match="positive sizes"):
        screen_subset(tiny_split, 10, val_size=0)
