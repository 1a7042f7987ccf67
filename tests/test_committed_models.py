"""The committed models load in every Keras the project admits, and predict what they predicted when recorded.

Newer Keras reads what older Keras wrote, not the reverse, so every committed ``.keras`` file must be
written by a Keras no newer than the floor of pyproject.toml (Colab's version; `make run` is pinned
to it by constraints.txt). Each leg of `make test` runs these tests in its own Keras: the TensorFlow
leg the floor, the JAX leg the newest, the Colab leg Colab's (tests/colab/).
"""

from __future__ import annotations

import json
import re
import tomllib

import pytest

import model_probes
from conftest import REPO
from fmnist.learn import saved_models


def keras_floor() -> str:
    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    keras = next(d for d in dependencies if re.match(r"keras\s*[<>=!~]", d))
    return re.search(r">=\s*([\d.]+)", keras).group(1)


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def too_new(paths, floor: str) -> list[str]:
    """The model files not written by a Keras at or below `floor`, each with the version that wrote it."""
    found = []
    for path in paths:
        writer = saved_models.saved_by(path)
        if writer is None or version(writer) > version(floor):
            found.append(f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}: "
                         f"saved by Keras {writer or 'unknown (no metadata.json)'}")
    return found


def test_models_are_committed():
    names = model_probes.committed_models()
    assert "models/full/04_regularisation.keras" in names and "models/full/05_transfer_learning.keras" in names


def test_every_committed_model_was_saved_by_the_lowest_admitted_keras():
    floor = keras_floor()
    found = too_new([REPO / name for name in model_probes.committed_models()], floor)
    assert not found, (f"{len(found)} committed model(s) written by a Keras newer than {floor}, the lowest "
                       f"pyproject.toml admits, which cannot read them. Write them with `make run` (its .venv "
                       f"is pinned to keras=={floor} by constraints.txt):\n" + "\n".join(found))


def test_the_check_catches_a_model_written_by_a_newer_keras(tmp_path):
    import zipfile

    newer = tmp_path / "newer.keras"
    with zipfile.ZipFile(newer, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.15.1"}))
    same = tmp_path / "same.keras"
    with zipfile.ZipFile(same, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.13.2"}))
    assert too_new([newer, same], "3.13.2") == [f"{newer}: saved by Keras 3.15.1"]
    assert too_new([tmp_path / "missing.keras"], "3.13.2") == [f"{tmp_path / 'missing.keras'}: saved by Keras "
                                                               f"unknown (no metadata.json)"]


def test_the_constraints_pin_the_floor():
    pins = [line.split("#", 1)[0].strip() for line in (REPO / "constraints.txt").read_text().splitlines()]
    assert f"keras=={keras_floor()}" in pins


def test_committed_models_predict_as_recorded(real_data):
    found = model_probes.check()
    assert not found, ("committed models that do not predict the probe batch as recorded in "
                       "tests/data/model_probes.json (after changing a model: `python tests/model_probes.py "
                       "--write`):\n" + "\n".join(found))


def test_a_changed_model_is_caught():
    reference = {"written_by_keras": "3.13.2", "probabilities": {"a.keras": [[0.9, 0.1]], "b.keras": [[0.5, 0.5]]}}
    assert model_probes.differences(reference, {"a.keras": [[0.9, 0.1]], "b.keras": [[0.5, 0.5]]}) == []
    found = model_probes.differences(reference, {"a.keras": [[0.2, 0.8]], "c.keras": [[1.0, 0.0]]})
    assert any(line.startswith("a.keras: probabilities differ by up to 0.7") and "1 of 1 top classes" in line
               for line in found)
    assert any(line.startswith("c.keras: no recorded probabilities") for line in found)
    assert any(line.startswith("b.keras: recorded, but no longer committed") for line in found)


@pytest.mark.parametrize("colab", [False, True])
def test_a_model_keras_cannot_read_says_the_whole_cause_and_what_to_install(tmp_path, monkeypatch, colab):
    """The reader sees Keras' whole message (not cut) and the one line that installs the Keras the file needs,
    for where they are: a Colab cell, or a shell."""
    import sys
    import types
    import zipfile

    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    path = tmp_path / "04_regularisation.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "99.1.0"}))
    cause = "GlorotUniform.__init__() got an unexpected keyword argument 'input_axes' " + "x" * 400 + " END"

    def refuses(*args, **kwargs):
        raise TypeError(cause)

    monkeypatch.setattr(saved_models.keras.models, "load_model", refuses)
    with pytest.raises(saved_models.ModelError) as caught:
        saved_models.load_model(path)
    message = str(caught.value)
    assert f"Cause: TypeError: {cause}\n" in message
    assert f"It was saved by Keras 99.1.0, and this is Keras {saved_models.keras.__version__}" in message
    if colab:
        assert "run `!pip install -q keras==99.1.0` in a cell, then Runtime > Restart session" in message
    else:
        assert "run `pip install keras==99.1.0` in this environment" in message and "!pip" not in message
    # In Jupyter or Colab the error is drawn as its message, whole
    assert caught.value._render_traceback_() == [f"ModelError: {message}"]


def _unreadable_model(path, monkeypatch, cause: str):
    """A .keras file written by a Keras newer than any, and Keras refusing it with `cause`."""
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "99.1.0"}))

    def refuses(*args, **kwargs):
        raise TypeError(cause)

    monkeypatch.setattr(saved_models.keras.models, "load_model", refuses)
    return path


def test_fmnist_predict_prints_the_whole_message(tmp_path, monkeypatch, capsys):
    import numpy as np
    from PIL import Image

    from fmnist.series import cli

    monkeypatch.delitem(__import__("sys").modules, "google.colab", raising=False)
    cause = "could not deserialize " + "y" * 300 + " END"
    model = _unreadable_model(tmp_path / "models" / "full" / "04_regularisation.keras", monkeypatch, cause)
    image = tmp_path / "shirt.png"
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[6:22, 8:20] = 220  # an item on black, as the dataset has them
    Image.fromarray(pixels).save(image)
    assert cli.main(["predict", str(image), "--model", str(model)]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"fmnist: error: {model}: cannot be loaded as a Keras model.\nCause: TypeError: {cause}\n")
    assert "run `pip install keras==99.1.0` in this environment" in error


def test_notebook_06s_loading_path_raises_the_same_message(scratch_home, monkeypatch):
    """Notebook 06 loads each stage's model with load_stage_model: the reader gets load_model's message unchanged."""
    import sys
    import types

    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    cause = "GlorotUniform.__init__() got an unexpected keyword argument 'input_axes' " + "z" * 300 + " END"
    path = _unreadable_model(scratch_home / "models" / "full" / "03_overfit.keras", monkeypatch, cause)
    with pytest.raises(saved_models.ModelError) as from_06:
        saved_models.load_stage_model("03_overfit", "full")
    with pytest.raises(saved_models.ModelError) as direct:
        saved_models.load_model(path)
    assert str(from_06.value) == str(direct.value)
    assert f"Cause: TypeError: {cause}\n" in str(from_06.value)
    assert "`!pip install -q keras==99.1.0` in a cell" in str(from_06.value)


@pytest.mark.parametrize("colab", [False, True])
def test_a_damaged_model_says_how_to_restore_it_where_the_reader_is(scratch_home, monkeypatch, colab):
    import sys
    import types
    import zipfile

    if colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    path = scratch_home / "models" / "full" / "04_regularisation_seeds" / "seed1.keras"
    path.parent.mkdir(parents=True)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"keras_version": "3.0.0"}))
    with pytest.raises(saved_models.ModelError) as caught:
        saved_models.load_model(path)
    message = str(caught.value)
    command = "git checkout -- models/full/04_regularisation_seeds/seed1.keras"
    assert (f"run `!{command}` in a cell" if colab else f"run `{command}` in the repository") in message
    assert message.endswith("otherwise re-create it by running notebook 04.")
