"""Profiles: the data regime and the training budget, in one place every notebook reads.

``FMNIST_PROFILE`` picks one (default ``full``):

- ``full``: a fixed, seeded, stratified 50,000 / 10,000 train/validation split of the
  training set; the 10,000 test images are kept for the final evaluation only.
- ``small``: the protocol of the reference workflow notebook (docs/references.md): train on training
  images 0-7,999, validate on 58,000-59,999, test on test images 0-1,999.
- ``smoke``: tiny stratified subsets and one or two epochs, to exercise every code path in
  minutes on two CPU cores. Its numbers mean nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from sklearn.model_selection import train_test_split

from fmnist.errors import ProfileError
from fmnist.learn.data import load, prepare

SPLIT_SEED = 42  # fixed once: every run of every profile sees the same split


@dataclass(frozen=True)
class Profile:
    """A data regime and training budget."""

    name: str
    description: str
    n_seeds: int
    max_epochs: int | None  # None: each stage trains for the epochs it asks for
    transfer_sizes: tuple[int, ...]
    smoke_sizes: tuple[int, int, int] | None = None  # train, validation, test subset sizes

    @property
    def seeds(self) -> list[int]:
        """The training seeds of this profile: 0, 1, ... (one fresh model per seed)."""
        return list(range(self.n_seeds))

    def epochs(self, wanted: int) -> int:
        """The number of epochs a stage that wants `wanted` gets in this profile."""
        return wanted if self.max_epochs is None else max(1, min(wanted, self.max_epochs))


PROFILES = {
    "full": Profile("full", "50,000 train / 10,000 validation (stratified, seeded); 10,000 test",
                    n_seeds=3, max_epochs=None, transfer_sizes=(96, 128)),
    "small": Profile("small", "the reference workflow's protocol: train on images 0-7,999, validate "
                     "on 58,000-59,999, test on test images 0-1,999", n_seeds=3, max_epochs=None, transfer_sizes=(96, 128)),
    "smoke": Profile("smoke", "tiny stratified subsets, 1-2 epochs: exercises the code, numbers "
                     "mean nothing", n_seeds=1, max_epochs=2, transfer_sizes=(32,),
                     smoke_sizes=(1000, 500, 500)),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile called `name`, or the one ``$FMNIST_PROFILE`` names (default ``full``)."""
    name = (name or os.environ.get("FMNIST_PROFILE") or "full").strip().lower()
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileError(
            f"Unknown profile {name!r}. Set FMNIST_PROFILE (or --profile) to one of: {', '.join(PROFILES)}."
        ) from None


def active_profile() -> Profile:
    """The profile named by ``$FMNIST_PROFILE`` (default ``full``)."""
    return get_profile(None)


class SplitIndices(NamedTuple):
    """Indices into the training set (train, validation) and into the test set (test)."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _stratified_subset(indices: np.ndarray, labels: np.ndarray, size: int, seed: int) -> np.ndarray:
    if size >= len(indices):
        return np.sort(indices)
    chosen, _ = train_test_split(indices, train_size=size, stratify=labels[indices], random_state=seed)
    return np.sort(chosen)


def split_indices(profile: Profile | str, y_train: np.ndarray, y_test: np.ndarray) -> SplitIndices:
    """The deterministic split of a profile, as sorted index arrays."""
    profile = get_profile(profile) if isinstance(profile, str) else profile
    if profile.name == "small":
        return SplitIndices(np.arange(0, 8000), np.arange(58000, 60000), np.arange(0, 2000))
    all_train = np.arange(len(y_train))
    train, val = train_test_split(all_train, test_size=10000, stratify=y_train, random_state=SPLIT_SEED)
    train, val, test = np.sort(train), np.sort(val), np.arange(len(y_test))
    if profile.smoke_sizes:
        n_train, n_val, n_test = profile.smoke_sizes
        train = _stratified_subset(train, y_train, n_train, SPLIT_SEED)
        val = _stratified_subset(val, y_train, n_val, SPLIT_SEED)
        test = _stratified_subset(test, y_test, n_test, SPLIT_SEED)
    return SplitIndices(train, val, test)


class Split(NamedTuple):
    """Training and validation data of a profile, prepared for a model (float32, channel axis)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    indices: SplitIndices


def load_split(profile: Profile | str | None = None) -> Split:
    """Train and validation data of the profile: scaled to [0, 1], shape (N, 28, 28, 1).

    The test split is deliberately not returned: only the final evaluation asks for it,
    through `load_test`.
    """
    profile = get_profile(profile) if not isinstance(profile, Profile) else profile
    (x, y), (_, y_test) = load()
    idx = split_indices(profile, y, y_test)
    return Split(prepare(x[idx.train]), y[idx.train], prepare(x[idx.val]), y[idx.val], idx)


def load_test(profile: Profile | str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The profile's test images (prepared) and labels: for the final evaluation only."""
    profile = get_profile(profile) if not isinstance(profile, Profile) else profile
    (_, y), (x_test, y_test) = load()
    idx = split_indices(profile, y, y_test)
    return prepare(x_test[idx.test]), y_test[idx.test]


def screen_subset(split: Split, size: int, val_size: int | None = None, seed: int = SPLIT_SEED) -> Split:
    """The split cut to a stratified, seeded subset of `size` training images (and `val_size`
    validation images; default: all of them).

    Notebook 04 screens many candidate models on such a subset, so that a dozen iterations over
    several seeds stay affordable on two CPU cores. Every candidate sees the same subsets.
    """
    if size <= 0 or (val_size is not None and val_size <= 0):
        raise ProfileError(f"screen_subset needs positive sizes, got {size} and {val_size}")
    chosen = _stratified_subset(np.arange(len(split.y_train)), split.y_train, size, seed)
    kept_val = (np.arange(len(split.y_val)) if val_size is None
                else _stratified_subset(np.arange(len(split.y_val)), split.y_val, val_size, seed))
    return Split(split.x_train[chosen], split.y_train[chosen], split.x_val[kept_val], split.y_val[kept_val],
                 split.indices._replace(train=split.indices.train[chosen], val=split.indices.val[kept_val]))
