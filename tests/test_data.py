"""fmnist.learn.data: finding, decoding and checking the Fashion-MNIST files, every error path included."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from fmnist.learn import data
from fmnist.errors import DataError
from conftest import idx_bytes, write_idx


def test_tiny_files_load_with_the_right_arrays(tiny_dataset):
    folder, arrays = tiny_dataset
    (x, y), (xt, yt) = data.load()
    np.testing.assert_array_equal(x, arrays["train_images"])
    np.testing.assert_array_equal(yt, arrays["test_labels"])
    assert x.dtype == np.uint8 and x.shape == (20, 28, 28)


def test_uncompressed_files_are_accepted(tiny_dataset):
    folder, arrays = tiny_dataset
    gz = folder / "train-labels-idx1-ubyte.gz"
    (folder / "train-labels-idx1-ubyte").write_bytes(gzip.decompress(gz.read_bytes()))
    gz.unlink()
    (_, y), _ = data.load()
    np.testing.assert_array_equal(y, arrays["train_labels"])


def test_wrong_magic_number_names_the_file(tiny_dataset):
    folder, _ = tiny_dataset
    raw = bytearray(idx_bytes(np.zeros((20, 28, 28))))
    raw[3] = 1  # claims rank 1
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: not an IDX file .*magic number"):
        data.load()


def test_truncated_content_is_reported(tiny_dataset):
    folder, arrays = tiny_dataset
    raw = idx_bytes(arrays["test_images"])[:-100]
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(DataError, match=r"t10k-images.*truncated"):
        data.load()


def test_truncated_gzip_is_reported_as_corrupt(tiny_dataset):
    folder, _ = tiny_dataset
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: cannot be read.*corrupt or truncated"):
        data.load()


def test_checksum_mismatch_says_it_is_not_fashion_mnist(tiny_dataset):
    folder, arrays = tiny_dataset
    changed = arrays["train_labels"].copy()
    changed[0] = 9  # right format and size, wrong content: what MNIST in Fashion's place looks like
    write_idx(folder / "train-labels-idx1-ubyte", changed)
    with pytest.raises(DataError, match=r"SHA-256 .* not the genuine Fashion-MNIST.*apt-get install dataset-fashion-mnist"):
        data.load()


def test_wrong_shape_is_reported(tiny_dataset):
    folder, _ = tiny_dataset
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(11))
    with pytest.raises(DataError, match=r"shape \(11,\), expected \(10,\)"):
        data.load()


def test_missing_file_is_named(tiny_dataset):
    folder, _ = tiny_dataset
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: missing"):
        data.load()


def test_data_dir_variable_pointing_at_an_empty_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FMNIST_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"FMNIST_DATA_DIR=.* holds none of the Fashion-MNIST files"):
        data.load()


def test_nothing_on_disk_and_offline_explains_every_way_to_get_the_data(tmp_path, monkeypatch):
    import keras.datasets.fashion_mnist as keras_fashion

    monkeypatch.delenv("FMNIST_DATA_DIR", raising=False)
    monkeypatch.setattr(data, "candidate_dirs", lambda: [("nowhere", tmp_path / "none")])

    def offline():
        raise OSError("no network")

    monkeypatch.setattr(keras_fashion, "load_data", offline)
    with pytest.raises(DataError) as info:
        data.load()
    message = str(info.value)
    assert "download through Keras failed" in message
    assert "apt-get install dataset-fashion-mnist" in message and "FMNIST_DATA_DIR" in message


def test_search_order(monkeypatch, tmp_path):
    monkeypatch.setenv("FMNIST_DATA_DIR", str(tmp_path))
    labels = [label for label, _ in data.candidate_dirs()]
    assert labels == ["$FMNIST_DATA_DIR", "repository data/ folder",
                      "Debian package dataset-fashion-mnist", "Keras cache"]


def test_prepare_scales_and_adds_the_channel_axis():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    out = data.prepare(images)
    assert out.shape == (1, 2, 2, 1) and out.dtype == np.float32
    assert out.min() == 0.0 and out.max() == 1.0 and out[0, 1, 0, 0] == pytest.approx(0.2)


def test_prepare_rejects_images_without_three_axes():
    with pytest.raises(ValueError, match=r"expects images of shape \(N, height, width\)"):
        data.prepare(np.zeros((28, 28)))



def test_real_data_is_fashion_mnist_with_balanced_classes(real_data):
    (x, y), (xt, yt) = real_data
    assert x.shape == (60000, 28, 28) and xt.shape == (10000, 28, 28)
    # Fashion-MNIST has 6,000 / 1,000 images per class; MNIST's 980, 1135, ... would fail here.
    assert np.bincount(y).tolist() == [6000] * 10
    assert np.bincount(yt).tolist() == [1000] * 10
    assert len(data.CLASS_NAMES) == 10


def test_a_file_changed_on_disk_is_checked_again(tiny_dataset):
    folder, arrays = tiny_dataset
    first, _ = data.load()
    first[0][0, 0, 0] = 255 - first[0][0, 0, 0]  # callers get copies: this must not leak into the cache
    (x, _), _ = data.load()
    np.testing.assert_array_equal(x, arrays["train_images"])
    changed = arrays["train_labels"].copy()
    changed[0] = 9
    write_idx(folder / "train-labels-idx1-ubyte", changed)
    with pytest.raises(DataError, match="SHA-256"):
        data.load()


def test_verbose_load_names_its_source_without_machine_paths(tiny_dataset, capsys):
    from fmnist.learn import data

    data.load(verbose=True)
    line = capsys.readouterr().out.strip()
    assert line == "Fashion-MNIST loaded from the $FMNIST_DATA_DIR; SHA-256 of all four files verified."
