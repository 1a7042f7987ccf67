"""fmnist.learn.test_time: flip averaging predicts what it says and is recorded so the paired rule can judge it."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import learnable_split

from fmnist.learn import decisions, registry, test_time
from fmnist.learn.training import compile_and_fit


@pytest.fixture
def tiny_split(scratch_home, monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    return learnable_split("95_test_time_test")


def build_tiny():
    return keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                             keras.layers.Dense(10, activation="softmax")])


def test_flip_averaging_is_the_mean_of_the_image_and_its_mirror(tiny_split):
    model = build_tiny()
    x = tiny_split.x_val
    plain = model.predict(x, verbose=0)
    mirrored = model.predict(x[:, :, ::-1], verbose=0)
    np.testing.assert_allclose(test_time.predict(model, x, flip=True), (plain + mirrored) / 2, atol=1e-6)
    np.testing.assert_allclose(test_time.predict(model, x, flip=False), plain, atol=1e-6)
    wrapped = test_time.with_flip(model)
    np.testing.assert_allclose(wrapped.predict(x), (plain + mirrored) / 2, atol=1e-6)
    assert wrapped.count_params() == model.count_params()
    assert all(np.array_equal(a, b) for a, b in zip(wrapped.get_weights(), model.get_weights()))


def test_the_flip_record_pairs_with_the_plain_one_seed_by_seed(tiny_split):
    result = compile_and_fit(build_tiny, tiny_split, "final", epochs=2, batch_size=32, seeds=[0, 1],
                             optimizer="adam", checkpoint=False, tensorboard=False)
    record = test_time.record_flip(result, tiny_split, "final_flip", of="final")
    assert record["seeds"] == [0, 1] and len(record["accuracy"]["values"]) == 2
    assert record == registry.get("95_test_time_test", "final_flip")
    expected = [float(np.mean(test_time.predict(m, tiny_split.x_val, flip=True).argmax(1) == tiny_split.y_val))
                for m in result.models]
    assert record["accuracy"]["values"] == pytest.approx(expected)
    verdict = decisions.compare(record, registry.get("95_test_time_test", "final"))
    assert verdict.images == len(tiny_split.y_val) and verdict.seeds == (0, 1)
