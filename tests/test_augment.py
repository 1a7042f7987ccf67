"""fmnist.learn.augment: each transform does what it says, and batches are seeded."""

from __future__ import annotations

import numpy as np
import pytest

from fmnist.learn.augment import AugmentedBatches, _affine_sample, augment_batch


def images(n=6, seed=0):
    return np.random.default_rng(seed).random((n, 28, 28, 1)).astype(np.float32)


def test_no_transform_is_the_identity():
    x = images()
    np.testing.assert_array_equal(augment_batch(x, np.random.default_rng(0)), x)
    zeros = np.zeros(len(x), np.float32)
    np.testing.assert_allclose(_affine_sample(x, zeros, zeros + 1, zeros, zeros), x, atol=1e-5)


def test_whole_pixel_shift_moves_the_image_and_fills_with_background():
    x = images(2)
    zeros = np.zeros(2, np.float32)
    moved = _affine_sample(x, zeros, zeros + 1, np.array([2, 0], np.float32), np.array([0, -3], np.float32))
    np.testing.assert_allclose(moved[0, 2:], x[0, :-2], atol=1e-5)
    assert np.all(moved[0, :2] == 0)
    np.testing.assert_allclose(moved[1, :, :-3], x[1, :, 3:], atol=1e-5)


def test_rotation_by_90_degrees_matches_rot90():
    x = images(1)
    zeros = np.zeros(1, np.float32)
    turned = _affine_sample(x, np.array([np.pi / 2], np.float32), zeros + 1, zeros, zeros)
    matches = [np.allclose(turned[0, :, :, 0], np.rot90(x[0, :, :, 0], k), atol=1e-4) for k in (1, 3)]
    assert any(matches)


def test_flip_mirrors_about_half_the_images_exactly():
    x = images(200)
    out = augment_batch(x, np.random.default_rng(1), flip=True)
    mirrored = [np.array_equal(o, i[:, ::-1]) for o, i in zip(out, x)]
    unchanged = [np.array_equal(o, i) for o, i in zip(out, x)]
    assert all(m or u for m, u in zip(mirrored, unchanged))
    assert 60 < sum(mirrored) < 140


def test_erasing_blanks_a_rectangle():
    x = np.ones((50, 28, 28, 1), np.float32)
    out = augment_batch(x, np.random.default_rng(2), erase=1.0)
    blanked = (out == 0).reshape(50, -1).mean(axis=1)
    assert np.all(blanked > 0) and np.all(blanked <= 0.26)


def test_batches_are_seeded_reshuffled_and_cover_every_image():
    x, y = images(10), np.arange(10)
    first = AugmentedBatches(x, y, batch_size=4, seed=5, shift=0.1)
    second = AugmentedBatches(x, y, batch_size=4, seed=5, shift=0.1)
    assert len(first) == 3
    for i in range(3):
        np.testing.assert_array_equal(first[i][0], second[i][0])
    epoch_labels = np.concatenate([first[i][1] for i in range(3)])
    assert sorted(epoch_labels) == list(range(10))
    before = first.order.copy()
    first.on_epoch_end()
    assert sorted(first.order) == list(range(10)) and not np.array_equal(before, first.order)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="expects"):
        augment_batch(np.zeros((28, 28)), np.random.default_rng(0))
    with pytest.raises(ValueError, match="differ in length"):
        AugmentedBatches(images(3), np.arange(2))


def test_every_transform_at_once_keeps_the_batch_shape_and_range_and_is_seeded():
    x = images(200)
    settings = dict(shift=0.1, rotation=10, zoom=0.1, flip=True, erase=0.5)
    out = augment_batch(x, np.random.default_rng(0), **settings)
    assert out.shape == x.shape and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0 and not np.array_equal(out, x)
    np.testing.assert_array_equal(out, augment_batch(x, np.random.default_rng(0), **settings))


def test_padded_crop_moves_each_image_by_whole_pixels_within_the_padding():
    x = images(40)
    out = augment_batch(x, np.random.default_rng(3), crop=4)
    assert out.shape == x.shape
    moves = set()
    for o, i in zip(out, x):
        found = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                 if np.array_equal(o[max(dy, 0):28 + min(dy, 0), max(dx, 0):28 + min(dx, 0)],
                                   i[max(-dy, 0):28 + min(-dy, 0), max(-dx, 0):28 + min(-dx, 0)])]
        assert found, "every crop is the image translated by at most 4 pixels"
        dy, dx = found[0]
        uncovered = np.ones((28, 28), bool)
        uncovered[max(dy, 0):28 + min(dy, 0), max(dx, 0):28 + min(dx, 0)] = False
        assert np.all(o[uncovered] == 0)  # the border the translation uncovers is background
        moves.add(found[0])
    assert len(moves) > 10  # not the same translation for every image
