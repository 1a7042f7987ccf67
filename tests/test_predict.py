"""fmnist.predict.classify and `fmnist predict`: preprocessing to Fashion-MNIST's form, output, every bad input."""

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

from fmnist.series import cli
from fmnist.learn import data
from fmnist.predict import classify as predict
from fmnist.predict.classify import ImageError, ModelError



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
    what, cause, advice = capsys.readouterr().err.strip().splitlines()  # Keras' cause in full, on its own line
    assert what == f"fmnist: error: {fake}: cannot be loaded as a Keras model."
    assert cause.startswith("Cause: ") and len(cause) > len("Cause: ")
    assert advice == ("It is not a .keras archive the notebooks write (no metadata.json). Pass a .keras file "
                      "saved by the notebooks, or re-run the notebook that saves it.")


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


# --- photos: noise, specks, huge files --------------------------------------------------------------

def noisy(pixels, sigma, seed=0):
    """`pixels` with Gaussian sensor noise, as uint8."""
    rng = np.random.default_rng(seed)
    return np.clip(np.rint(np.asarray(pixels, dtype=np.float64) + rng.normal(0, sigma, np.shape(pixels))),
                   0, 255).astype(np.uint8)


@pytest.mark.parametrize("background, sigma", [(240, 4), (228, 8)])
def test_on_a_noisy_off_white_background_the_item_fills_the_frame(background, sigma, tmp_path):
    """Noise must not count as item: the item's longer side fills the 28 pixels, as in the dataset."""
    photo = noisy(np.asarray(item(height=200, width=120, value=40, background=background, mode="L")), sigma)
    prepared = predict.preprocess(save(Image.fromarray(photo), tmp_path / "photo.jpg", quality=75))
    lit = np.argwhere(prepared.pixels > 60)
    height, width = lit.max(axis=0) - lit.min(axis=0) + 1
    assert height >= 27 and 15 <= width <= 19, (height, width, prepared.steps)
    assert any(step.startswith("background noise of ") for step in prepared.steps) or sigma < 5
    assert prepared.pixels[:, :4].max() < 30  # the margin stays black


def test_specks_far_from_the_item_are_ignored(tmp_path):
    clean = np.asarray(item(mode="L"))
    specked = clean.copy()
    for row, col in ((2, 2), (5, 150), (230, 3), (233, 170), (120, 4)):
        specked[row:row + 4, col:col + 4] = 0  # dust: dark specks on the white background
    prepared = predict.preprocess(save(Image.fromarray(specked), tmp_path / "dusty.png"))
    assert prepared.steps[-2:] == ["5 specks away from the item ignored",
                                   "cropped 120x200 -> resized to 17x28, centred on 28x28"]
    np.testing.assert_array_equal(prepared.pixels, predict.preprocess(save(item(mode="L"), tmp_path / "c.png")).pixels)


def test_a_light_grey_gradient_is_background(tmp_path):
    rows = np.linspace(195, 245, 240)[:, None] * np.ones((1, 180))
    photo = rows.copy()
    photo[20:220, 30:150] *= 0.15  # the item darkens what light falls on it, as a photo's does
    prepared = predict.preprocess(save(Image.fromarray(np.rint(photo).astype(np.uint8)), tmp_path / "g.png"))
    assert prepared.steps[1].startswith("uneven background (grey levels ")
    assert prepared.steps[-1] == "cropped 120x200 -> resized to 17x28, centred on 28x28"
    inside = prepared.pixels[2:26, 7:20]
    assert inside.min() >= 200 and inside.max() - inside.min() <= 10  # levelled per pixel: the item is even


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_a_huge_jpeg_is_downscaled_while_decoding_in_bounded_memory(tmp_path):
    """12000x12000 (144 megapixels, over Pillow's warning limit): decoded at 1/8 scale, no warning,
    and the peak memory above what the imports left stays under one 8-bit copy of the full image."""
    from PIL import ImageDraw

    big = Image.new("L", (12000, 12000), 240)
    ImageDraw.Draw(big).rectangle((3000, 2000, 8000, 10000), fill=40)
    path = save(big, tmp_path / "huge.jpg", quality=80)
    del big
    # VmRSS and VmHWM (peak) of this process's memory: ru_maxrss would carry the parent's over the exec
    script = ("import sys, warnings\n"
              "from pathlib import Path\n"
              "def kb(key):\n"
              "    line = next(l for l in Path('/proc/self/status').read_text().splitlines() if l.startswith(key))\n"
              "    return int(line.split()[1])\n"
              "warnings.simplefilter('error')\n"
              "from fmnist.predict import photo\n"
              "before = kb('VmRSS:')\n"
              "prepared = photo.preprocess(sys.argv[1])\n"
              "print((kb('VmHWM:') - before) // 1024)\n"
              "print('; '.join(prepared.steps))\n")
    done = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    megabytes, steps = done.stdout.splitlines()
    print(f"12000x12000 JPEG: peak memory +{megabytes} MB")
    assert steps.startswith("downscaled 12000x12000 -> 1024x1024 first; inverted (light background)")
    assert steps.endswith("cropped 427x684 -> resized to 17x28, centred on 28x28")
    assert int(megabytes) < 144


def test_a_decompression_bomb_is_refused_in_one_line_before_decoding(model_file, tmp_path, capsys):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_header_only(16000, 16000))  # 256 megapixels claimed by a 57-byte file
    assert cli.main(["predict", str(bomb), "--model", str(model_file)]) == 1
    assert only_line(capsys.readouterr().err) == (
        f"fmnist: error: {bomb}: too large to decode safely (16000x16000, 256 megapixels; the limit is 200): "
        f"scale it down first.")


def test_between_pillows_limits_no_warning_leaks(tmp_path, recwarn):
    """Pillow warns from 89 megapixels and refuses from 179; under 200 the command decides alone."""
    from PIL import Image as PillowImage

    path = tmp_path / "large.png"
    path.write_bytes(png_header_only(10000, 10000))  # 100 megapixels, no pixel data
    with pytest.raises(ImageError, match="corrupt or truncated image"):
        predict.preprocess(path)
    assert not [w for w in recwarn if issubclass(w.category, PillowImage.DecompressionBombWarning)]
    assert PillowImage.MAX_IMAGE_PIXELS == 89478485  # put back as it was


# --- --explain ---------------------------------------------------------------------------------------

def test_explain_writes_the_28x28_image_the_model_saw(model_file, tmp_path, capsys):
    photos = [save(item(), tmp_path / "a.png"), save(item(value=90), tmp_path / "sub.jpg")]
    (tmp_path / "sub").mkdir()
    photos.append(save(item(height=100), tmp_path / "sub" / "a.png"))  # the same name: kept apart
    out = tmp_path / "seen"
    assert cli.main(["predict", *photos, "--model", str(model_file), "--explain", str(out), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert [r["explained"] for r in results] == [str(out / "a.png"), str(out / "sub.png"), str(out / "a-2.png")]
    for result, photo in zip(results, photos):
        np.testing.assert_array_equal(np.asarray(Image.open(result["explained"])), predict.preprocess(photo).pixels)
    assert sorted(p.name for p in out.iterdir()) == ["a-2.png", "a.png", "sub.png"]  # no temporary files left
    assert cli.main(["predict", photos[0], "--model", str(model_file), "--explain", str(out)]) == 0
    assert f"  the 28x28 image the model saw: {out / 'a.png'}" in capsys.readouterr().out.splitlines()


# --- every saved model of the series -------------------------------------------------------------------

SAVED = sorted((predict.default_model_path().parent).glob("*.keras"))


@pytest.mark.parametrize("path", SAVED, ids=[p.stem for p in SAVED])
def test_every_saved_model_of_the_series_predicts_a_photo(path, real_data, tmp_path, capsys):
    _, (x_test, _) = real_data
    images = [save(Image.fromarray(255 - x_test[0]).resize((280, 280)), tmp_path / "photo.png"),
              save(Image.fromarray(x_test[1]), tmp_path / "export.png")]
    assert cli.main(["predict", *images, "--model", str(path), "--json"]) == 0
    assert [len(r["top"]) for r in json.loads(capsys.readouterr().out)] == [3, 3]


# --- photo-like images: accuracy against the same items as dataset images -------------------------------

KINDS = ("white", "off-white", "grey gradient", "textured", "dark cut-out", "light cut-out")
PHOTO_ITEMS = 150  # per kind of background: test-split items, the same for every kind


def photo_like(pixels: np.ndarray, kind: str, rng) -> tuple[Image.Image, dict]:
    """A product photo of a dataset item: a dark item on a light background (the dataset negated such
    photos), upscaled to 200-400 px with margins, tinted; or a cut-out on a transparent background.

    The item darkens the light falling on it, so the photo is background x (1 - item / 255); the
    cut-outs are the item as a shop shows it (dark) and as the dataset does (light), their alpha
    the item's silhouette. Returns the image and how to save it.
    """
    side = int(rng.integers(200, 401))
    margin = int(rng.integers(side // 12, side // 5))
    inner = side - 2 * margin
    grown = np.asarray(Image.fromarray(pixels).resize((inner, inner), Image.Resampling.BICUBIC), dtype=np.float64)
    share = np.zeros((side, side))
    share[margin:margin + inner, margin:margin + inner] = np.clip(grown, 0, 255) / 255
    if kind.endswith("cut-out"):
        colour = 255 * share if kind == "light cut-out" else 255 * (1 - share)
        rgba = np.dstack([colour] * 3 + [255 * np.clip(share * 8, 0, 1)])
        return Image.fromarray(np.rint(rgba).astype(np.uint8), "RGBA"), {"format": "PNG", "compress_level": 1}
    if kind == "white":
        background, sigma = np.full((side, side), 255.0), 0
    elif kind == "off-white":
        background, sigma = np.full((side, side), float(rng.integers(225, 246))), 4
    elif kind == "grey gradient":
        background, sigma = 195 + 50 * np.linspace(0, 1, side)[:, None] * np.ones((1, side)), 3
    else:  # a woven texture with sensor noise
        grid = np.arange(side)
        background, sigma = 225 + 10 * np.sin(grid[:, None] / 3.0) * np.cos(grid[None, :] / 4.0), 8
    photo = background * (1 - share) + (rng.normal(0, sigma, (side, side)) if sigma else 0)
    rgb = np.clip(np.rint(np.dstack([photo * tint for tint in (1.0, 0.97, 0.93)])), 0, 255).astype(np.uint8)
    if kind in ("off-white", "textured"):
        return Image.fromarray(rgb), {"format": "JPEG", "quality": int(rng.integers(60, 91))}
    return Image.fromarray(rgb), {"format": "PNG", "compress_level": 1}


@pytest.fixture(scope="module")
def photo_set(real_data, tmp_path_factory):
    """{kind: the 28x28 images `fmnist predict` made of the photo-like files}, test indices, labels."""
    _, (x_test, y_test) = real_data
    picks = np.sort(np.random.default_rng(6).choice(len(x_test), PHOTO_ITEMS, replace=False))
    folder = tmp_path_factory.mktemp("photos")
    made = {}
    for number, kind in enumerate(KINDS):
        rng = np.random.default_rng(number)
        pixels = []
        for i in picks:
            image, options = photo_like(x_test[i], kind, rng)
            path = folder / f"{kind.replace(' ', '_')}_{i}.{options['format'].lower()}"
            image.save(path, **options)
            pixels.append(predict.preprocess(path).pixels)
        made[kind] = np.stack(pixels)
    return made, picks, y_test[picks]


def photo_accuracy_gaps(model, spec, photo_set, real_data, label: str) -> dict:
    """Accuracy on the items as dataset images and as each kind of photo (printed); the gaps in points."""
    made, picks, labels = photo_set
    _, (x_test, _) = real_data
    on_dataset = float(np.mean(predict.predict_pixels(model, x_test[picks], spec=spec).argmax(1) == labels))
    gaps, shown = {}, []
    for kind, pixels in made.items():
        accuracy = float(np.mean(predict.predict_pixels(model, pixels, spec=spec).argmax(1) == labels))
        gaps[kind] = 100 * (on_dataset - accuracy)
        shown.append(f"{kind} {accuracy:.3f}")
    print(f"\n{label}, {len(picks)} test-split items: dataset images {on_dataset:.3f}; photo-like: {', '.join(shown)}")
    return gaps


def test_photo_like_images_score_within_5_points_of_the_dataset_with_the_final_model(photo_set, real_data):
    path = predict.default_model_path()
    if not path.is_file():
        pytest.skip("no final model yet: run notebook 04 in the full profile")
    model = predict.load_model(path)
    gaps = photo_accuracy_gaps(model, predict.model_input(model, path), photo_set, real_data, path.name)
    assert max(gaps.values()) <= 5, gaps


@pytest.fixture(scope="module")
def transfer_model(real_data, tmp_path_factory):
    """A small stand-in for notebook 05's model: (32, 32, 3) MobileNetV2-preprocessed inputs, saved as
    models/smoke/05_transfer_learning.keras with its registry record in results/smoke.json beside it."""
    import keras

    from fmnist.learn import imagenet, registry

    (x_train, y_train), _ = real_data
    keras.utils.set_random_seed(0)
    x = np.concatenate(list(imagenet.to_rgb_batches(x_train[:3000], 32, imagenet.preprocess_function("mobilenet_v2"))))
    model = keras.Sequential([keras.Input((32, 32, 3)),
                              keras.layers.Conv2D(16, 3, strides=2, activation="relu"),
                              keras.layers.Conv2D(32, 3, strides=2, activation="relu"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y_train[:3000], epochs=2, batch_size=64, verbose=0)
    root = tmp_path_factory.mktemp("series")
    path = root / "models" / "smoke" / "05_transfer_learning.keras"
    path.parent.mkdir(parents=True)
    model.save(path)
    registry.record("05_transfer_learning", "best_transfer", "validation", 0.5, profile="smoke",
                    extra={"from": "test fixture", "base": "mobilenet_v2", "input_size": 32},
                    path=root / "results" / "smoke.json")
    return path


def test_photo_like_images_score_within_5_points_of_the_dataset_with_a_transfer_model(
        transfer_model, photo_set, real_data):
    model = predict.load_model(transfer_model)
    spec = predict.model_input(model, transfer_model)
    assert (spec.base, spec.size, spec.source) == ("mobilenet_v2", 32, "from results/smoke.json")
    gaps = photo_accuracy_gaps(model, spec, photo_set, real_data,
                               "05-style transfer fixture (MobileNetV2 input, 32 px)")
    assert max(gaps.values()) <= 5, gaps


def test_the_real_transfer_model_on_photo_like_images(photo_set, real_data):
    path = predict.default_model_path().parent / "05_transfer_learning.keras"
    if not path.is_file():
        pytest.skip(f"no {path.name} in models/full/: notebook 05's full run saves it")
    model = predict.load_model(path)
    gaps = photo_accuracy_gaps(model, predict.model_input(model, path), photo_set, real_data,
                               f"models/full/{path.name}")
    assert max(gaps.values()) <= 5, gaps


def test_a_transfer_model_predicts_exported_images_as_their_arrays(transfer_model, real_data, tmp_path, capsys):
    import keras

    from fmnist.learn import imagenet

    _, (x_test, _) = real_data
    files = [save(Image.fromarray(x_test[i]), tmp_path / f"test{i}.png") for i in range(3)]
    assert cli.main(["predict", *files, "--model", str(transfer_model), "--json", "--top", "10"]) == 0
    results = json.loads(capsys.readouterr().out)
    batch = next(imagenet.to_rgb_batches(x_test[:3], 32, imagenet.preprocess_function("mobilenet_v2")))
    expected = keras.models.load_model(transfer_model).predict(batch, verbose=0)
    for result, row in zip(results, expected):
        by_class = {entry["class"]: entry["probability"] for entry in result["top"]}
        assert [by_class[name] for name in data.CLASS_NAMES] == pytest.approx(row, abs=1e-6)
    assert cli.main(["predict", files[0], "--model", str(transfer_model)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"Model: {transfer_model} (32x32 RGB, MobileNetV2 preprocessing, from results/smoke.json)")


def test_a_transfer_model_without_its_record_says_what_to_run(transfer_model, tmp_path, capsys):
    lone = tmp_path / "models" / "small" / "05_transfer_learning.keras"
    lone.parent.mkdir(parents=True)
    lone.write_bytes(transfer_model.read_bytes())
    assert cli.main(["predict", save(item(), tmp_path / "a.png"), "--model", str(lone)]) == 1
    assert only_line(capsys.readouterr().err) == (
        f"fmnist: error: {lone} takes 32x32 RGB images for an ImageNet base, but which base's preprocessing is "
        f"not known (no record of 05_transfer_learning in results/small.json) and its layers do not tell: run "
        f"notebook 05 (`fmnist run --profile small --only 05`), which saves the model with its record.")


def test_without_a_record_the_base_is_guessed_from_layer_names_and_said(tmp_path, capsys):
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Conv2D(4, 3, name="block1_conv1"),
                              keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
    path = tmp_path / "vgg_like.keras"
    model.save(path)
    assert cli.main(["predict", save(item(), tmp_path / "a.png"), "--model", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"Model: {path} (32x32 RGB, VGG16 preprocessing, no registry record: vgg_like.keras is not in "
        f"models/<profile>/: size from the model's input, base guessed from its layer names)")


# --- what a saved model does at test time ----------------------------------------------------------

def lopsided():
    """An item with more of it on the left: its mirror is another image."""
    pixels = np.full((240, 180), 255, dtype=np.uint8)
    pixels[20:220, 30:150] = 30
    pixels[20:120, 30:60] = 120
    return Image.fromarray(pixels)


def test_a_model_with_views_and_an_ensemble_inside_predicts_so_and_says_so(tmp_path, capsys):
    from fmnist.learn import test_time

    members = [build_model(seed=seed) for seed in (2, 3)]
    path = tmp_path / "models" / "smoke" / "04_regularisation.keras"
    path.parent.mkdir(parents=True)
    chosen = test_time.ensemble([test_time.with_views(m, flip=True, name=f"seed_{i}") for i, m in enumerate(members)])
    chosen.save(path)
    image = save(lopsided(), tmp_path / "shirt.png")
    assert cli.main(["predict", image, "--model", str(path), "--json", "--top", "10"]) == 0
    result = json.loads(capsys.readouterr().out)[0]
    assert result["test_time"] == "the mean over the image, its mirror; the mean of 2 models (an ensemble of seeds)"
    pixels = predict.preprocess(image).pixels[None]
    each = [(predict.predict_pixels(m, pixels)[0] + predict.predict_pixels(m, pixels[:, :, ::-1])[0]) / 2 for m in members]
    assert not np.allclose(predict.predict_pixels(members[0], pixels)[0], each[0], atol=1e-3)  # else the test could not tell
    got = {entry["class"]: entry["probability"] for entry in result["top"]}
    assert [got[name] for name in data.CLASS_NAMES] == pytest.approx(np.mean(each, axis=0), abs=1e-5)
    assert cli.main(["predict", image, "--model", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        f"Model: {path}, predicting the mean over the image, its mirror; the mean of 2 models (an ensemble of seeds)")


def test_a_plain_model_predicts_each_image_once_and_says_nothing_more(tmp_path, model_file, capsys):
    image = save(lopsided(), tmp_path / "shirt.png")
    assert cli.main(["predict", image, "--model", str(model_file), "--json"]) == 0
    assert "test_time" not in json.loads(capsys.readouterr().out)[0]


def test_a_damaged_registry_beside_a_transfer_model_is_one_line_saying_how_to_recover(transfer_model, tmp_path, capsys):
    root = tmp_path / "series"
    model = root / "models" / "smoke" / "05_transfer_learning.keras"
    model.parent.mkdir(parents=True)
    model.write_bytes(transfer_model.read_bytes())
    (root / "results").mkdir()
    (root / "results" / "smoke.json").write_text("{not json", encoding="utf-8")
    assert cli.main(["predict", save(lopsided(), tmp_path / "a.png"), "--model", str(model)]) == 1
    error = only_line(capsys.readouterr().err)
    assert error.startswith(f"fmnist: error: {root / 'results' / 'smoke.json'}: not valid JSON")
    assert "git checkout --" in error
