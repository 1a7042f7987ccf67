"""fmnist.learn.profiles: splits are deterministic, disjoint and stratified; small is the reference protocol."""

from __future__ import annotations

import numpy as np
import pytest

from fmnist.learn import profiles
from fmnist.errors import ProfileError

RNG = np.random.default_rng(1)
Y_TRAIN = np.repeat(np.arange(10), 6000)[RNG.permutation(60000)]
Y_TEST = np.repeat(np.arange(10), 1000)[RNG.permutation(10000)]


@pytest.mark.parametrize("name", ["full", "small", "smoke"])
def test_split_is_deterministic_and_disjoint(name):
    first = profiles.split_indices(name, Y_TRAIN, Y_TEST)
    second = profiles.split_indices(name, Y_TRAIN, Y_TEST)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert not set(first.train) & set(first.val)


def test_full_split_is_50000_10000_and_stratified():
    split = profiles.split_indices("full", Y_TRAIN, Y_TEST)
    assert (len(split.train), len(split.val), len(split.test)) == (50000, 10000, 10000)
    assert np.bincount(Y_TRAIN[split.val]).tolist() == [1000] * 10
    assert np.bincount(Y_TRAIN[split.train]).tolist() == [5000] * 10


def test_small_is_exactly_the_reference_protocol():
    split = profiles.split_indices("small", Y_TRAIN, Y_TEST)
    np.testing.assert_array_equal(split.train, np.arange(8000))
    np.testing.assert_array_equal(split.val, np.arange(58000, 60000))
    np.testing.assert_array_equal(split.test, np.arange(2000))


def test_smoke_is_a_stratified_subset_of_full():
    full = profiles.split_indices("full", Y_TRAIN, Y_TEST)
    smoke = profiles.split_indices("smoke", Y_TRAIN, Y_TEST)
    assert set(smoke.train) <= set(full.train) and set(smoke.val) <= set(full.val)
    assert np.bincount(Y_TRAIN[smoke.train]).tolist() == [100] * 10
    assert np.bincount(Y_TEST[smoke.test]).tolist() == [50] * 10


def test_profile_from_environment_and_unknown_name(monkeypatch):
    monkeypatch.setenv("FMNIST_PROFILE", "small")
    assert profiles.active_profile().name == "small"
    monkeypatch.delenv("FMNIST_PROFILE")
    assert profiles.active_profile().name == "full"
    monkeypatch.setenv("FMNIST_PROFILE", "huge")
    with pytest.raises(ProfileError, match=r"Unknown profile 'huge'.*full, small, smoke"):
        profiles.active_profile()


def test_epoch_budget():
    assert profiles.get_profile("full").epochs(40) == 40
    assert profiles.get_profile("smoke").epochs(40) == 2
    assert profiles.get_profile("smoke").epochs(1) == 1
    assert profiles.get_profile("full").seeds == [0, 1, 2]
