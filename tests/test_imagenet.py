"""fmnist.learn.imagenet: RGB batches for ImageNet models, and features cached once per key."""

from __future__ import annotations


import keras
import numpy as np
import pytest

import fmnist
from fmnist.learn import imagenet, session, weights
from fmnist.errors import FmnistError
from fmnist.learn.imagenet import ImagenetError

VGG_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
SHA = "0123456789abcdef" * 4


def constant_images(values, dtype=np.uint8):
    """One 28x28 image per value, every pixel equal to it: easy to recognise after any resize."""
    return np.stack([np.full((28, 28), v) for v in values]).astype(dtype)


@pytest.fixture
def imagenet_session(scratch_home, monkeypatch):
    """A smoke-profile session writing into a scratch repository; the previous session comes back after."""
    monkeypatch.setenv("FMNIST_PROFILE", "smoke")
    monkeypatch.setattr(session, "_current", None)
    fmnist.setup("97_imagenet_test", quiet=True)
    return scratch_home



def pooling_base(size=32):
    """A stand-in for a frozen base: the mean of each channel (no weights, instant)."""
    return keras.Sequential([keras.Input((size, size, 3)), keras.layers.GlobalAveragePooling2D()])


def counting(base, monkeypatch):
    """Count the batches `base` is run on."""
    calls = []
    original = base.predict_on_batch

    def predict_on_batch(batch):
        calls.append(len(batch))
        return original(batch)

    monkeypatch.setattr(base, "predict_on_batch", predict_on_batch)
    return calls


# --- to_rgb_batches and preprocess_function ---------------------------------------------------

def test_vgg16_batches_are_bgr_and_mean_subtracted():
    images = constant_images([0, 255])
    (batch,) = list(imagenet.to_rgb_batches(images, 32, imagenet.preprocess_function("vgg16")))
    assert batch.shape == (2, 32, 32, 3) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[0], np.broadcast_to(-VGG_MEAN_BGR, (32, 32, 3)), atol=1e-4)
    np.testing.assert_allclose(batch[1], np.broadcast_to(255 - VGG_MEAN_BGR, (32, 32, 3)), atol=1e-4)


def test_vgg16_reverses_the_channels():
    # Grey images have equal channels, so use the preprocessor on a coloured pixel directly
    # to pin down the order the batches are given in: RGB in, BGR out.
    pixel = np.array([[[[10.0, 20.0, 30.0]]]], dtype=np.float32)
    out = imagenet.preprocess_function("vgg16")(pixel.copy())
    np.testing.assert_allclose(out[0, 0, 0], [30 - 103.939, 20 - 116.779, 10 - 123.68], atol=1e-4)


def test_mobilenet_v2_batches_lie_in_minus_one_to_one():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    images[0], images[1] = 0, 255
    (batch,) = list(imagenet.to_rgb_batches(images, 48, imagenet.preprocess_function("mobilenet_v2")))
    assert batch.shape == (5, 48, 48, 3) and batch.dtype == np.float32
    assert batch.min() >= -1.0 and batch.max() <= 1.0
    np.testing.assert_allclose(batch[0], -1.0, atol=1e-6)
    np.testing.assert_allclose(batch[1], 1.0, atol=1e-6)
    np.testing.assert_array_equal(batch[..., 0], batch[..., 1])  # grey: three equal channels
    np.testing.assert_array_equal(batch[..., 0], batch[..., 2])


def test_float_images_with_a_channel_axis_give_the_same_batches_as_uint8():
    rng = np.random.default_rng(1)
    as_uint8 = rng.integers(0, 256, (4, 28, 28)).astype(np.uint8)
    as_float = fmnist.prepare(as_uint8)
    assert as_float.shape == (4, 28, 28, 1) and as_float.dtype == np.float32
    preprocess = imagenet.preprocess_function("mobilenet_v2")
    (a,) = list(imagenet.to_rgb_batches(as_uint8, 32, preprocess))
    (b,) = list(imagenet.to_rgb_batches(as_float, 32, preprocess))
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_batches_cover_every_image_once_in_order():
    images = constant_images(range(0, 250, 25))  # 10 images, image i has value 25 * i
    batches = list(imagenet.to_rgb_batches(images, 32, lambda x: x, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    means = np.concatenate(batches).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(means, np.arange(0, 250, 25), atol=1e-3)


def test_batch_size_must_be_positive():
    with pytest.raises(ImagenetError, match="batch_size must be a positive integer"):
        imagenet.to_rgb_batches(constant_images([0]), 32, lambda x: x, batch_size=0)


@pytest.mark.parametrize("size", [31, 28, 0, 32.0, True])
def test_size_below_32_is_refused_at_the_call(size):
    # Raised by the call itself, not at the first next(): the error points at the mistake.
    with pytest.raises(ImagenetError, match="need at least 32x32"):
        imagenet.to_rgb_batches(constant_images([0]), size, lambda x: x)


@pytest.mark.parametrize("images, message", [
    (np.zeros((2, 32, 32), np.uint8), r"shape \(N, 28, 28\) or \(N, 28, 28, 1\), got \(2, 32, 32\)"),
    (np.zeros((2, 28, 28, 3), np.uint8), r"got \(2, 28, 28, 3\)"),
    (np.zeros((0, 28, 28), np.uint8), "No images were given"),
    (np.full((1, 28, 28), 255.0, np.float32), r"must lie in \[0, 1\].*float images scaled to \[0, 1\]"),
    (np.full((1, 28, 28), np.nan, np.float32), r"must lie in \[0, 1\]"),
    (np.full((1, 28, 28), 300, np.int32), "must lie in 0-255"),
    (np.zeros((1, 28, 28), bool), "dtype bool are not supported"),
])
def test_images_that_are_not_fashion_mnist_are_refused(images, message):
    with pytest.raises(ImagenetError, match=message):
        imagenet.to_rgb_batches(images, 32, lambda x: x)


def test_preprocess_function_knows_the_two_models_only():
    assert imagenet.preprocess_function("vgg16") is keras.applications.vgg16.preprocess_input
    assert imagenet.preprocess_function("mobilenet_v2") is keras.applications.mobilenet_v2.preprocess_input
    with pytest.raises(ImagenetError, match="Unknown base model 'resnet50': use one of 'vgg16', 'mobilenet_v2'"):
        imagenet.preprocess_function("resnet50")


# --- extract_features ----------------------------------------------------------------------------

def test_features_are_cached_once_and_reused(imagenet_session, monkeypatch, capsys):
    base = pooling_base()
    calls = counting(base, monkeypatch)
    images = constant_images(range(0, 250, 25))
    first = imagenet.extract_features(base, images, "mobilenet_v2", 32, SHA, "train", batch_size=4)
    assert calls == [4, 4, 4]  # the last batch padded to the others' shape: the base compiles once
    assert first.shape == (10, 3) and first.dtype == np.float32
    np.testing.assert_allclose(first[:, 0], np.arange(0, 250, 25) / 127.5 - 1, atol=1e-5)
    path = (imagenet_session / "cache" / "smoke" / "features"
            / f"mobilenet_v2_32_0123456789ab_train_10_{imagenet.fingerprint(images)}.npy")
    assert path.is_file()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary file left behind
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # outside a notebook: the result line only, no per-batch progress
    assert "mobilenet_v2 features of 10 train images at 32x32" in out and "(3 batches)" in out
    assert "computed" in out and "cached as cache/smoke/features/" in out

    again = imagenet.extract_features(base, images, "mobilenet_v2", 32, SHA, "train", batch_size=4)
    assert calls == [4, 4, 4]  # not run again
    np.testing.assert_array_equal(again, first)
    for features in (first, again):  # file-backed, read-only: several GB of features cost no RAM
        assert isinstance(features, np.memmap) and not features.flags.writeable
    assert (f"loaded from cache: cache/smoke/features/mobilenet_v2_32_0123456789ab_train_10_"
            f"{imagenet.fingerprint(images)}.npy") in capsys.readouterr().out


def test_each_part_of_the_key_gets_its_own_file(imagenet_session, monkeypatch):
    base = pooling_base()
    calls = counting(base, monkeypatch)
    images = constant_images([0, 100, 200])
    imagenet.extract_features(base, images, "mobilenet_v2", 32, None, "train")
    imagenet.extract_features(base, images, "mobilenet_v2", 32, None, "val")
    imagenet.extract_features(base, images[:2], "mobilenet_v2", 32, None, "val")
    imagenet.extract_features(base, images, "vgg16", 32, None, "val")
    assert calls == [3, 3, 2, 3]  # one batch smaller than batch_size: nothing to pad it to
    names = sorted(p.name.rsplit("_", 1)[0] for p in (imagenet_session / "cache" / "smoke" / "features").iterdir())
    assert names == ["mobilenet_v2_32_imagenet_train_3", "mobilenet_v2_32_imagenet_val_2",
                     "mobilenet_v2_32_imagenet_val_3", "vgg16_32_imagenet_val_3"]


def test_different_images_of_the_same_count_get_their_own_file(imagenet_session, monkeypatch):
    base = pooling_base()
    calls = counting(base, monkeypatch)
    first = imagenet.extract_features(base, constant_images([0, 10]), "vgg16", 32, SHA, "train")
    second = imagenet.extract_features(base, constant_images([200, 250]), "vgg16", 32, SHA, "train")
    assert len(calls) == 2 and not np.array_equal(first, second)


def test_a_corrupt_cache_file_is_recomputed(imagenet_session, monkeypatch, capsys):
    base = pooling_base()
    calls = counting(base, monkeypatch)
    images = constant_images([0, 255])
    path = imagenet.feature_path("mobilenet_v2", 32, SHA, "train", constant_images([0, 255]))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"half a file")
    features = imagenet.extract_features(base, images, "mobilenet_v2", 32, SHA, "train")
    assert len(calls) == 1 and "is unreadable" in capsys.readouterr().out
    np.testing.assert_allclose(features, [[-1, -1, -1], [1, 1, 1]], atol=1e-5)
    np.testing.assert_array_equal(np.load(path), features)  # the file was repaired


@pytest.mark.parametrize("stale", [np.zeros((2, 5), np.float32), np.zeros((2, 3), np.float64)])
def test_a_cache_file_of_the_wrong_shape_or_dtype_is_recomputed(imagenet_session, monkeypatch, capsys, stale):
    base = pooling_base()
    calls = counting(base, monkeypatch)
    path = imagenet.feature_path("mobilenet_v2", 32, SHA, "train", constant_images([0, 255]))
    path.parent.mkdir(parents=True)
    np.save(path, stale)
    features = imagenet.extract_features(base, constant_images([0, 255]), "mobilenet_v2", 32, SHA, "train")
    assert len(calls) == 1 and features.shape == (2, 3)
    assert f"holds {stale.dtype} {stale.shape}, expected float32 (2, 3); recomputing" in capsys.readouterr().out


def test_extract_features_refuses_an_unknown_model_and_a_small_size(imagenet_session):
    with pytest.raises(ImagenetError, match="Unknown base model 'resnet50'"):
        imagenet.extract_features(pooling_base(), constant_images([0]), "resnet50", 32, None, "train")
    with pytest.raises(ImagenetError, match="need at least 32x32"):
        imagenet.extract_features(pooling_base(), constant_images([0]), "vgg16", 16, None, "train")


def test_a_base_built_for_another_size_is_refused(imagenet_session):
    with pytest.raises(ImagenetError, match=r"takes 48x48 images but size is 32: build the base with input_shape=\(32, 32, 3\)"):
        imagenet.extract_features(pooling_base(48), constant_images([0]), "vgg16", 32, None, "train")


def test_extract_features_needs_a_session(scratch_home, monkeypatch):
    monkeypatch.setattr(session, "_current", None)
    with pytest.raises(FmnistError, match=r"call fmnist.setup"):
        imagenet.extract_features(pooling_base(), constant_images([0]), "vgg16", 32, None, "train")


def test_real_mobilenet_v2_features(imagenet_session, offline_weights, capsys):
    base, used = weights.imagenet_base("mobilenet_v2", (32, 32, 3), alpha=0.35)
    images = np.random.default_rng(0).integers(0, 256, (8, 28, 28)).astype(np.uint8)
    features = imagenet.extract_features(base, images, "mobilenet_v2", 32, used.sha256, "train", batch_size=4)
    assert features.shape == (8, 1, 1, 1280) and features.dtype == np.float32
    assert np.isfinite(features).all() and features.std() > 0
    path = imagenet.feature_path("mobilenet_v2", 32, used.sha256, "train", images)
    assert path.name == f"mobilenet_v2_32_{used.sha256[:12]}_train_8_{imagenet.fingerprint(images)}.npy"
    assert path.is_file()
    capsys.readouterr()
    np.testing.assert_array_equal(
        imagenet.extract_features(base, images, "mobilenet_v2", 32, used.sha256, "train"), features)
    assert "loaded from cache" in capsys.readouterr().out


# --- fine-tuning inputs ---------------------------------------------------------------------------

def test_split_base_gives_the_same_outputs_as_the_whole(offline_weights):
    base, _ = weights.imagenet_base("vgg16", (32, 32, 3))
    bottom, top = imagenet.split_base(base, "block4_pool")
    x = np.random.default_rng(0).random((2, 32, 32, 3)).astype(np.float32) * 100
    np.testing.assert_allclose(top.predict_on_batch(bottom.predict_on_batch(x)), base.predict_on_batch(x),
                               rtol=1e-4, atol=1e-4)
    assert [layer.name for layer in top.layers[1:]] == ["block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"]
    with pytest.raises(ImagenetError, match="has no layer 'block9'"):
        imagenet.split_base(base, "block9")


def test_split_base_follows_branches_and_refuses_a_skip_across_the_cut():
    inputs = keras.Input((4,))
    a = keras.layers.Dense(3, name="a")(inputs)
    b = keras.layers.Dense(3, name="b")(a)
    c = keras.layers.Add(name="c")([a, b])
    model = keras.Model(inputs, c)
    bottom, top = imagenet.split_base(model, "a")  # both branches start at a's output
    x = np.random.default_rng(0).random((2, 4)).astype(np.float32)
    np.testing.assert_allclose(top.predict_on_batch(bottom.predict_on_batch(x)), model.predict_on_batch(x), rtol=1e-5)
    with pytest.raises(ImagenetError, match="a skip connection crosses the cut"):
        imagenet.split_base(model, "b")  # c also reads a, from before the cut


def test_split_base_cuts_mobilenet_v2_between_residual_blocks():
    base = keras.applications.MobileNetV2(input_shape=(32, 32, 3), include_top=False, weights=None)
    bottom, top = imagenet.split_base(base, "block_12_add")
    x = np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(top.predict_on_batch(bottom.predict_on_batch(x)), base.predict_on_batch(x),
                               rtol=1e-4, atol=1e-4)
    assert top.layers[1].name == "block_13_expand" and top.input.shape[1:] == (2, 2, 96)
    with pytest.raises(ImagenetError, match="skip connection"):
        imagenet.split_base(base, "block_11_project_BN")  # block 12 adds block 11's output back


def test_imagenet_base_names_its_weights_once_and_without_machine_paths(offline_weights, capsys):
    imagenet._announced.clear()
    imagenet.imagenet_base("mobilenet_v2", (32, 32, 3))
    imagenet.imagenet_base("mobilenet_v2", (32, 32, 3))
    out = capsys.readouterr().out
    assert out.count("ImageNet weights") == 1
    assert "$FMNIST_WEIGHTS_DIR/" in out or "models/imagenet/" in out or "Keras" in out
    assert "/work/" not in out and "/home/" not in out


def test_mirrored_activations_show_each_image_once_per_epoch_as_it_is_or_mirrored():
    activations = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1)
    mirrored = -activations - 100  # told apart from the originals by sign
    labels = np.arange(10)
    batches = imagenet.MirroredActivations(activations, mirrored, labels, batch_size=4, seed=0)
    assert len(batches) == 3

    def epoch():
        xs, ys = zip(*(batches[i] for i in range(len(batches))))
        return np.concatenate(xs)[:, 0, 0, 0], np.concatenate(ys)

    first_x, first_y = epoch()
    assert sorted(first_y) == list(range(10))  # every image once
    assert all(x == y or x == -y - 100 for x, y in zip(first_x, first_y))  # with its own label, either way
    batches.on_epoch_end()
    second_x, second_y = epoch()
    assert sorted(second_y) == list(range(10)) and (list(second_y) != list(first_y) or list(second_x) != list(first_x))
    again = imagenet.MirroredActivations(activations, mirrored, labels, batch_size=4, seed=0)
    np.testing.assert_array_equal(np.concatenate([again[i][0] for i in range(3)])[:, 0, 0, 0], first_x)  # seeded
    with pytest.raises(ImagenetError, match="one mirrored activation and one label per image"):
        imagenet.MirroredActivations(activations, mirrored[:5], labels)


def test_predict_in_batches_matches_predict_and_pads_the_last_batch():
    model = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten(), keras.layers.Dense(4)])
    x = np.random.default_rng(0).random((10, 2, 2, 3)).astype(np.float32)
    out = imagenet.predict_in_batches(model, x, batch_size=4)  # batches of 4, 4 and 2 (padded to 4)
    assert out.shape == (10, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(imagenet.predict_in_batches(model, x[:3], batch_size=4), out[:3], rtol=1e-5, atol=1e-6)
    with pytest.raises(ImagenetError, match="at least one input"):
        imagenet.predict_in_batches(model, x[:0])
