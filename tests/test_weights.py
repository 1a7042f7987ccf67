"""fmnist.learn.weights: offline files first, Keras' cache next, download last; clear errors otherwise."""

from __future__ import annotations


import pytest

from fmnist.learn import weights
from fmnist.learn.weights import WeightsError



def test_file_names_follow_keras():
    assert weights.file_name("vgg16") == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert weights.file_name("mobilenet_v2", 0.35) == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_224_no_top.h5"
    with pytest.raises(WeightsError, match="alpha"):
        weights.file_name("mobilenet_v2", 0.6)
    with pytest.raises(WeightsError, match="Unknown base model 'resnet'"):
        weights.file_name("resnet")


def test_weights_dir_file_is_used_and_named_with_its_hash(tmp_path, monkeypatch):
    path = tmp_path / weights.file_name("vgg16")
    path.write_bytes(b"not really weights")
    monkeypatch.setenv("FMNIST_WEIGHTS_DIR", str(tmp_path))
    found = weights.resolve("vgg16")
    assert found.argument == str(path) and found.sha256 == weights.sha256(path)
    assert "FMNIST_WEIGHTS_DIR" in found.source and found.sha256[:16] in found.source


def test_weights_dir_without_the_file_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(WeightsError, match=r"FMNIST_WEIGHTS_DIR=.* has no mobilenet_v2_weights.*1\.0_224_no_top\.h5"):
        weights.resolve("mobilenet_v2")


def test_keras_cache_then_download(scratch_home, tmp_path, monkeypatch):
    monkeypatch.delenv("FMNIST_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(weights, "KERAS_MODELS_DIR", tmp_path)
    assert weights.resolve("vgg16").argument == "imagenet"
    (tmp_path / weights.file_name("vgg16")).write_bytes(b"x")
    assert "Keras cache" in weights.resolve("vgg16").source


def test_the_repository_folder_comes_before_the_keras_cache(scratch_home, tmp_path, monkeypatch):
    """models/imagenet/ is found by every entry point with no variable set."""
    monkeypatch.delenv("FMNIST_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(weights, "KERAS_MODELS_DIR", tmp_path)
    (tmp_path / weights.file_name("vgg16")).write_bytes(b"cached")
    local = scratch_home / "models" / "imagenet" / weights.file_name("vgg16")
    local.parent.mkdir(parents=True)
    local.write_bytes(b"local")
    found = weights.resolve("vgg16")
    assert found.argument == str(local) and found.sha256 == weights.sha256(local)
    assert "models/imagenet/" in found.source and str(scratch_home) not in found.source  # no machine path
    monkeypatch.setenv("FMNIST_WEIGHTS_DIR", str(tmp_path))  # the variable still wins
    assert weights.resolve("vgg16").argument == str(tmp_path / weights.file_name("vgg16"))


def test_failed_download_is_one_clear_error(scratch_home, tmp_path, monkeypatch):
    import keras

    monkeypatch.delenv("FMNIST_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr(weights, "KERAS_MODELS_DIR", tmp_path)

    def offline(**kwargs):
        raise OSError("URL fetch failure")

    monkeypatch.setattr(keras.applications, "VGG16", offline)
    with pytest.raises(WeightsError) as info:
        weights.imagenet_base("vgg16", (32, 32, 3))
    message = str(info.value)
    assert "could not download" in message and "(OSError: URL fetch failure)" in message  # the real reason
    assert "create the folder models/imagenet/" in message and weights.file_name("vgg16") in message
    assert "shared" not in message  # only folders the reader has


def test_a_file_that_is_not_weights_is_reported(tmp_path, monkeypatch):
    (tmp_path / weights.file_name("mobilenet_v2", 0.35)).write_bytes(b"garbage")
    monkeypatch.setenv("FMNIST_WEIGHTS_DIR", str(tmp_path))
    with pytest.raises(WeightsError, match="cannot be loaded as mobilenet_v2 weights"):
        weights.imagenet_base("mobilenet_v2", (32, 32, 3), alpha=0.35)



@pytest.mark.parametrize("model, alpha", [("mobilenet_v2", 0.35), ("vgg16", 1.0)])
def test_the_shared_weights_load(offline_weights, model, alpha, capsys):
    base, used = weights.imagenet_base(model, (32, 32, 3), alpha=alpha)
    assert used.sha256 and base.count_params() > 100_000
    assert "ImageNet weights: file" in capsys.readouterr().out
