"""fmnist.predict and `fmnist predict`: preprocessing to Fashion-MNIST's form, output, every bad input."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from fmnist import cli, data, predict
from fmnist.predict import ImageError, ModelError



def build_model(input_shape=(28, 28, 1), outputs=10, activation="softmax", seed=0):
    """Flatten -> Dense with fixed random weights: different images get different probabilities."""
    import keras

    model = keras.Sequential([keras.Input(input_shape), keras.layers.Flatten(),
                              keras.layers.Dense(outputs, activation=activation)])
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(0, 0.1, (int(np.prod(input_shape)), outputs)).astype("float32"),
                       np.zeros(outputs, dtype="float32")])
    return model


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    build_model().save(path)
    return path


def item(height=200, width=120, value=30, background=255, mode="RGB"):
    """A dark rectangle (the item) on a light background, like a product photo."""
    pixels = np.full((height + 40, width + 60), background, dtype=np.uint8)
    pixels[20:20 + height, 30:30 + width] = value
    return Image.fromarray(pixels).convert(mode)


def save(image: Image.Image, path, **kwargs):
    image.save(path, **kwargs)
    return str(path)


def only_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# --- preprocessing --------------------------------------------------------------------------------

def test_exported_test_images_come_back_exactly(real_data, tmp_path):
    _, (x_test, y_test) = real_data
    for label in range(10):
        index = int(np.flatnonzero(y_test == label)[0])
        prepared = predict.preprocess(save(Image.fromarray(x_test[index]), tmp_path / f"{index}.png"))
        np.testing.assert_array_equal(prepared.pixels, x_test[index])
        assert prepared.steps == ["already 28x28: size kept"]


def test_no_test_image_is_inverted_levelled_or_moved(real_data):
    _, (x_test, _) = real_data
    changed = [i for i, image in enumerate(x_test)
               if not np.array_equal(predict.to_fashion_mnist(image).pixels, image)]
    assert changed == []


def test_an_inverted_upscaled_rgb_photo_of_an_item_comes_back_close(real_data, tmp_path):
    _, (x_test, y_test) = real_data
    for label in range(10):
        original = x_test[int(np.flatnonzero(y_test == label)[0])]
        photo = Image.fromarray(255 - original).resize((112, 112), Image.Resampling.BICUBIC).convert("RGB")
        # JPEG ringing can add a row to the 6-pixel-high sandal and move it by a pixel: a lower bound there
        for suffix, bound in (("png", 0.9), ("jpg", 0.85)):
            prepared = predict.preprocess(save(photo, tmp_path / f"{label}.{suffix}"))
            assert prepared.steps[:2] == ["converted RGB to grayscale", "inverted (light background)"]
            assert prepared.steps[2].startswith("cropped ")
            correlation = np.corrcoef(prepared.pixels.ravel(), original.ravel())[0, 1]
            assert correlation > bound, (label, suffix, correlation)


def test_a_photo_is_cropped_scaled_and_centred_like_the_dataset(tmp_path):
    prepared = predict.preprocess(save(item(), tmp_path / "photo.png"))
    assert prepared.steps == ["converted RGB to grayscale", "inverted (light background)",
                              "cropped 120x200 -> resized to 17x28, centred on 28x28"]
    lit = np.argwhere(prepared.pixels > 100)
    assert lit.min(axis=0).tolist() == [0, 5] and lit.max(axis=0).tolist() == [27, 21]  # 17 wide, centred
    assert prepared.pixels[:, :5].max() == 0 and prepared.pixels.dtype == np.uint8


def test_a_light_item_on_black_is_not_inverted(tmp_path):
    prepared = predict.preprocess(save(item(value=220, background=0, mode="L"), tmp_path / "dark.png"))
    assert prepared.steps == ["cropped 120x200 -> resized to 17x28, centred on 28x28"]
    assert prepared.pixels[14, 14] > 200


@pytest.mark.parametrize("value, hidden", [(20, (0, 0, 0, 0)), (20, (255, 255, 255, 0)),
                                           (230, (255, 255, 255, 0)), (230, (0, 0, 0, 0))])
def test_a_cut_out_is_put_on_the_background_its_item_stands_out_from(value, hidden, tmp_path):
    """Transparent pixels' colour is arbitrary: a dark item goes on white (then inverted), a light one
    on black, and the alpha channel is the outline, so the crop is the item's whatever its contrast."""
    image = Image.new("RGBA", (60, 90), hidden)
    image.paste(Image.new("RGBA", (30, 70), (value, value, value, 255)), (15, 10))
    prepared = predict.preprocess(save(image, tmp_path / "cutout.png"))
    if value < 128:
        assert prepared.steps[:2] == ["composited RGBA on white (a dark item) and converted to grayscale",
                                      "inverted (light background)"]
    else:
        assert prepared.steps[:1] == ["composited RGBA on black (a light item) and converted to grayscale"]
    assert prepared.steps[-1] == "cropped 30x70 -> resized to 12x28, centred on 28x28"
    assert prepared.pixels[14, 14] >= 220 and prepared.pixels[:, :7].max() == 0


def test_an_opaque_rgba_image_is_an_ordinary_photo(tmp_path):
    prepared = predict.preprocess(save(item(mode="RGBA"), tmp_path / "opaque.png"))
    assert prepared.steps == ["composited RGBA on white and converted to grayscale", "inverted (light background)",
                              "cropped 120x200 -> resized to 17x28, centred on 28x28"]


def test_palette_sixteen_bit_and_animated_images_are_converted(tmp_path):
    palette = predict.preprocess(save(item().convert("P"), tmp_path / "palette.png"))
    assert palette.steps[0] == "converted P to grayscale"
    deep = (np.asarray(item(mode="L"), dtype=np.uint16) * 257)  # the same photo with 16-bit grey levels
    sixteen = predict.preprocess(save(Image.fromarray(deep), tmp_path / "deep.png"))
    assert sixteen.steps[0].startswith("scaled I;16") and sixteen.steps[0].endswith("grey levels to 8 bits")
    np.testing.assert_array_equal(sixteen.pixels, predict.preprocess(save(item(), tmp_path / "rgb.png")).pixels)
    frames = [item(), item(value=100)]
    path = save(frames[0], tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    assert predict.preprocess(path).steps[0] == "used the first of 2 frames"


def test_a_camera_photo_is_turned_upright_as_its_exif_says(tmp_path):
    from PIL import ExifTags

    upright = item(height=200, width=120)
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6  # stored turned a quarter: display rotated 90 degrees clockwise
    path = save(upright.rotate(90, expand=True), tmp_path / "phone.jpg", exif=exif, quality=95)
    prepared = predict.preprocess(path)
    assert prepared.steps[0] == "turned upright as its EXIF orientation says"
    assert prepared.steps[-1] == "cropped 120x200 -> resized to 17x28, centred on 28x28"


def test_a_grey_background_is_lowered_to_black(tmp_path):
    prepared = predict.preprocess(save(item(value=250, background=60, mode="L"), tmp_path / "grey.png"))
    assert prepared.steps[0] == "background grey level 60 lowered to black"
    assert prepared.pixels.min() == 0 and prepared.pixels.max() >= 245


def test_a_small_item_is_scaled_up():
    pixels = np.zeros((10, 10))
    pixels[3:7, 4:6] = 200
    prepared = predict.to_fashion_mnist(pixels)
    assert prepared.steps == ["cropped 2x4 -> resized to 14x28, centred on 28x28"]


# --- the command: output --------------------------------------------------------------------------

def test_json_output_and_predictions_equal_those_of_the_arrays(real_data, model_file, tmp_path, capsys):
    _, (x_test, _) = real_data
    files = [save(Image.fromarray(x_test[i]), tmp_path / f"test{i}.png") for i in range(3)]
    assert cli.main(["predict", *files, "--model", str(model_file), "--json", "--top", "4"]) == 0
    out = capsys.readouterr()
    results = json.loads(out.out)
    assert out.err == ""
    import keras

    expected = keras.models.load_model(model_file).predict(x_test[:3, :, :, None] / 255.0, verbose=0)
    for i, result in enumerate(results):
        assert list(result) == ["image", "steps", "top"] and result["image"] == files[i]
        assert [list(entry) for entry in result["top"]] == [["class", "probability"]] * 4
        best = np.argsort(-expected[i])[:4]
        assert [entry["class"] for entry in result["top"]] == [data.CLASS_NAMES[j] for j in best]
        assert [entry["probability"] for entry in result["top"]] == pytest.approx(expected[i][best], abs=1e-6)


def test_table_output(model_file, tmp_path, capsys):
    photo = save(item(), tmp_path / "photo.jpg", quality=90)
    assert cli.main(["predict", photo, "--model", str(model_file), "--top", "2"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == f"Model: {model_file}"
    assert lines[2] == (f"{photo}: converted RGB to grayscale; inverted (light background); "
                        f"cropped 120x200 -> resized to 17x28, centred on 28x28")
    assert [line.split()[0] for line in lines[3:]] == ["1.", "2."]
    probabilities = [float(line.split()[-1]) for line in lines[3:]]
    assert probabilities == sorted(probabilities, reverse=True) and all(0 <= p <= 1 for p in probabilities)


def test_a_model_ending_in_logits_still_gives_probabilities(tmp_path, capsys):
    path = tmp_path / "logits.keras"
    build_model(activation=None, seed=1).save(path)
    assert cli.main(["predict", save(item(), tmp_path / "a.png"), "--model", str(path), "--json", "--top", "10"]) == 0
    top = json.loads(capsys.readouterr().out)[0]["top"]
    assert sum(entry["probability"] for entry in top) == pytest.approx(1.0, abs=1e-4)


# --- the command: bad input -------------------------------------------------------------------------

def png_header_only(width: int, height: int) -> bytes:
    """A PNG claiming width x height grey pixels, with an empty IDAT chunk: no pixel data."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", b"") + chunk(b"IEND", b""))


def make_bad(case: str, folder) -> tuple[str, str]:
    """A bad input file of the given kind, and the problem its error line must name."""
    path = folder / f"{case}.png"
    if case == "missing":
        return str(path), "no such file."
    if case == "not an image":
        path.write_text("a text file named .png\n")
        return str(path), "not an image file Pillow can read; use a PNG or JPEG."
    if case == "empty":
        path.write_bytes(b"")
        return str(path), "empty file (0 bytes)"
    if case == "truncated":
        save(item(), path)
        path.write_bytes(path.read_bytes()[:-200])
        return str(path), "corrupt or truncated image"
    if case == "uniform":
        save(Image.new("RGB", (50, 40), (255, 255, 255)), path)
        return str(path), "uniform image (every pixel has grey level 255): nothing to classify."
    if case == "no contrast":
        save(item(value=250, background=255, mode="L"), path)
        return str(path), "nothing stands out from the background"
    if case == "folder":
        path.mkdir()
        return str(path), "is a folder, not an image file."
    if case == "huge":
        path.write_bytes(png_header_only(20000, 20000))
        return str(path), "too large to decode safely"
    raise AssertionError(case)


BAD = ["missing", "not an image", "empty", "truncated", "uniform", "no contrast", "folder", "huge"]


@pytest.mark.parametrize("case", BAD)
def test_a_bad_image_is_one_line_and_the_others_are_still_predicted(case, model_file, tmp_path, capsys):
    good = [save(item(), tmp_path / "first.png"), save(item(value=90), tmp_path / "last.jpg")]
    bad, problem = make_bad(case, tmp_path)
    assert cli.main(["predict", good[0], bad, good[1], "--model", str(model_file), "--json"]) == 1
    out = capsys.readouterr()
    line = only_line(out.err)
    assert line.startswith(f"fmnist: error: {bad}: {problem}"), line
    results = json.loads(out.out)
    assert [r["image"] for r in results] == [good[0], bad, good[1]]
    assert len(results[0]["top"]) == 3 and len(results[2]["top"]) == 3
    assert results[1] == {"image": bad, "error": line.removeprefix("fmnist: error: ")}


def test_when_every_image_fails_the_model_is_not_needed_and_nothing_is_printed(model_file, tmp_path, capsys):
    bad = [make_bad(case, tmp_path)[0] for case in ("missing", "empty")]
    assert cli.main(["predict", *bad, "--model", str(model_file)]) == 1
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 2


def test_missing_default_model_says_to_run_notebook_04(scratch_home, tmp_path, capsys):
    image = save(item(), tmp_path / "a.png")
    assert cli.main(["predict", image, str(tmp_path / "missing.png")]) == 1
    line = only_line(capsys.readouterr().err)  # the model first: one error, not one per image
    assert line == (f"fmnist: error: No model at {scratch_home / 'models' / 'full' / '04_regularisation.keras'}: "
                    f"train and save it by running notebook 04 (`fmnist run --only 04`), or pass another "
                    f".keras file with --model PATH.")


def test_missing_model_option_file(tmp_path, capsys):
    assert cli.main(["predict", save(item(), tmp_path / "a.png"), "--model", str(tmp_path / "nope.keras")]) == 1
    assert only_line(capsys.readouterr().err) == (
        f"fmnist: error: --model {tmp_path / 'nope.keras'}: no such file. Pass the path of a saved .keras "
        f"model (the notebooks save them under models/<profile>/).")


def test_a_file_that_is_not_a_model(tmp_path, capsys):
    fake = tmp_path / "fake.keras"
    fake.write_text("not a model")
    assert cli.main(["predict", save(item(), tmp_path / "a.png"), "--model", str(fake)]) == 1
    line = only_line(capsys.readouterr().err)
    assert line.startswith(f"fmnist: error: {fake}: cannot be loaded as a Keras model (")
    assert line.endswith("Pass a .keras file saved by the notebooks, or re-run the notebook that saves it.")


@pytest.mark.parametrize("shape, outputs, message", [
    ((32, 32, 1), 10, r"expects inputs of shape \(None, 32, 32, 1\); `fmnist predict` gives 28x28 grayscale"),
    ((32, 32, 3), 10, r"takes 32x32 RGB images for an ImageNet base, but which base's preprocessing is not known"),
    ((28, 28, 1), 5, r"gives outputs of shape \(5,\), not the 10 Fashion-MNIST classes"),
])
def test_a_model_for_other_data_is_refused(shape, outputs, message, tmp_path):
    with pytest.raises(ModelError, match=message):
        predict.predict_pixels(build_model(shape, outputs), np.zeros((1, 28, 28), dtype=np.uint8))


@pytest.mark.parametrize("top", ["0", "11", "three"])
def test_top_must_be_between_1_and_10(top, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["predict", "a.png", "--top", top])
    assert info.value.code == 2
    assert "argument --top: must be a whole number from 1 to 10" in capsys.readouterr().err


def test_uniform_arrays_are_refused_directly():
    with pytest.raises(ImageError, match=r"uniform image \(every pixel has grey level 0\)"):
        predict.to_fashion_mnist(np.zeros((28, 28)))


def test_module_entry_point_has_no_traceback_and_no_native_log_lines(model_file, tmp_path):
    good = save(item(), tmp_path / "good.png")
    bad, _ = make_bad("truncated", tmp_path)
    done = subprocess.run([sys.executable, "-m", "fmnist", "predict", good, bad, "--model", str(model_file)],
                          capture_output=True, text=True, env={**os.environ, "FMNIST_PROFILE": "smoke"})
    assert done.returncode == 1
    assert only_line(done.stderr).startswith(f"fmnist: error: {bad}: corrupt or truncated image")
    assert "Traceback" not in done.stderr
    assert done.stdout.startswith(f"Model: {model_file}\n\n{good}: ")


def test_the_committed_final_model_names_at_least_9_of_10_test_images(real_data, tmp_path, capsys):
    """Issue 6's bar for the command: one test image per class, written out as PNG, labels known."""
    if not predict.default_model_path().is_file():  # it lands with notebook 04's full run
        pytest.skip("no final model yet: run notebook 04 in the full profile")
    _, (x_test, y_test) = real_data
    picks = [int(np.flatnonzero(y_test == label)[0]) for label in range(10)]
    files = [save(Image.fromarray(x_test[i]), tmp_path / f"test{i}.png") for i in picks]
    assert cli.main(["predict", *files, "--json", "--top", "1"]) == 0
    results = json.loads(capsys.readouterr().out)
    named = [result["top"][0]["class"] for result in results]
    right = sum(name == data.CLASS_NAMES[y_test[i]] for name, i in zip(named, picks))
    assert right >= 9, list(zip(named, [data.CLASS_NAMES[y_test[i]] for i in picks]))
