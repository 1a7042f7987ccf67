"""fmnist.learn.test_time: views and ensembles predict what they say, save and load as one model,
and are recorded so that the paired rule can judge them."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import learnable_split

from fmnist.learn import decisions, registry, saved_models, test_time


@pytest.fixture
def tiny_split(scratch_home, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    return learnable_split("95_test_time_test")


def build_tiny(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                             keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])


def shifted(images, dy, dx):
    """Images moved by (dy, dx) pixels with a zero border, written out the slow way."""
    out = np.zeros_like(images)
    h, w = images.shape[1:3]
    for y in range(h):
        for x in range(w):
            if 0 <= y - dy < h and 0 <= x - dx < w:
                out[:, y, x] = images[:, y - dy, x - dx]
    return out


def test_the_views_are_the_image_its_mirror_and_both_moved_one_pixel(tiny_split):
    x = tiny_split.x_val[:5]
    views = test_time._views_of(x, flip=True, shift=1)
    mirror = x[:, :, ::-1]
    expected = [x, mirror, shifted(x, 1, 1), shifted(x, -1, -1), shifted(mirror, 1, 1), shifted(mirror, -1, -1)]
    assert len(views) == test_time.view_count(True, 1) == 6
    for got, want in zip(views, expected):
        np.testing.assert_array_equal(got, want)
    assert len(test_time._views_of(x, flip=False, shift=1)) == test_time.view_count(False, 1) == 3
    assert len(test_time._views_of(x, flip=True, shift=0)) == test_time.view_count(True, 0) == 2


@pytest.mark.parametrize("flip, shift", [(True, 0), (False, 1), (True, 1)])
def test_a_model_with_views_predicts_the_mean_over_views_and_saves_as_one_file(tiny_split, scratch_home, flip, shift):
    model = build_tiny()
    x = tiny_split.x_val[:16]
    expected = test_time.view_probabilities(model, x, flip=flip, shift=shift).mean(axis=0)
    wrapped = test_time.with_views(model, flip=flip, shift=shift)
    np.testing.assert_allclose(wrapped.predict(x, verbose=0), expected, atol=1e-5)
    assert wrapped.count_params() == model.count_params()
    path = saved_models.save_model(wrapped, "with_views", include_optimizer=False)
    np.testing.assert_allclose(saved_models.load_model(path).predict(x, verbose=0), expected, atol=1e-5)


def test_no_views_is_the_model_itself():
    model = build_tiny()
    assert test_time.with_views(model, flip=False, shift=0) is model


def test_an_ensemble_predicts_the_mean_of_its_members_and_saves_as_one_file(tiny_split, scratch_home):
    members = [build_tiny(seed) for seed in (0, 1, 2)]
    x = tiny_split.x_val[:16]
    expected = np.mean([m.predict(x, verbose=0) for m in members], axis=0)
    both = test_time.ensemble([test_time.with_views(m, flip=True, name=f"seed_{i}") for i, m in enumerate(members)])
    views = np.mean([test_time.view_probabilities(m, x, flip=True, shift=0).mean(axis=0) for m in members], axis=0)
    np.testing.assert_allclose(test_time.ensemble(members).predict(x, verbose=0), expected, atol=1e-5)
    path = saved_models.save_model(both, "ensemble", include_optimizer=False)
    np.testing.assert_allclose(saved_models.load_model(path).predict(x, verbose=0), views, atol=1e-5)
    assert test_time.ensemble(members[:1]) is members[0]


def test_records_pair_with_the_plain_fit_seed_by_seed_and_an_ensemble_with_each_seed(tiny_split):
    import fmnist

    fmnist.setup("95_test_time_test", quiet=True)
    models = [build_tiny(seed) for seed in (0, 1)]
    probabilities = [m.predict(tiny_split.x_val, verbose=0) for m in models]
    plain = registry.record("95_test_time_test", "final", "validation",
                            [test_time.accuracy(p, tiny_split.y_val) for p in probabilities], seeds=[0, 1],
                            extra={"validation_images": len(tiny_split.y_val)})
    views = [test_time.view_probabilities(m, tiny_split.x_val, flip=True, shift=0).mean(axis=0) for m in models]
    flipped = test_time.record(views, tiny_split.y_val, "final_flip", seeds=[0, 1], params=models[0].count_params(),
                               of="final", how="image and mirror")
    assert flipped == registry.get("95_test_time_test", "final_flip")
    assert flipped["accuracy"]["values"] == pytest.approx([test_time.accuracy(v, tiny_split.y_val) for v in views])
    verdict = decisions.compare(flipped, plain)
    assert verdict.images == len(tiny_split.y_val) and verdict.seeds == (0, 1)
    entry, paired = test_time.ensemble_record(views, tiny_split.y_val, "final_ensemble", seeds=[0, 1], params=1, of="final_flip")
    assert entry["accuracy"]["values"] == [test_time.accuracy(np.mean(views, axis=0), tiny_split.y_val)]
    assert paired["seeds"] == [0, 1] and paired["accuracy"]["values"] == entry["accuracy"]["values"] * 2
    assert decisions.compare(paired, flipped).seeds == (0, 1)


def test_judge_keeps_a_step_only_when_the_paired_rule_does(tiny_split, capsys):
    import fmnist

    fmnist.setup("95_test_time_test", quiet=True)
    y = tiny_split.y_val
    right = np.eye(10)[y]  # probabilities that are always right
    wrong = np.eye(10)[(y + 1) % 10]
    plain = test_time.record([wrong * 0.6 + right * 0.4] * 2, y, "plain", seeds=[0, 1], params=1, of="-", how="plain")
    kept, best = test_time.judge([right, right], y, "better_views", plain, seeds=[0, 1], params=1, how="views")
    assert kept and best == registry.get("95_test_time_test", "better_views")
    assert capsys.readouterr().out.strip() == decisions.compare(best, plain).sentence()
    kept, best_after = test_time.judge([wrong, wrong], y, "worse_views", best, seeds=[0, 1], params=1, how="views")
    assert not kept and best_after is best
    assert registry.get("95_test_time_test", "worse_views")["accuracy"]["mean"] == 0.0
