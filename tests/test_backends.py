"""The series on every Keras backend: no TensorFlow off TensorFlow, and saved models that travel.

Each check runs in subprocesses, because a Keras backend is fixed at `import keras`. A backend is
tested when some interpreter has it: this one, or one named in ``FMNIST_BACKEND_PYTHONS``
(``"jax=.venv-jax/bin/python torch=.venv-torch/bin/python"``, which `make test` sets).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import textwrap
from functools import lru_cache

import numpy as np
import pytest
from conftest import REPO

BACKENDS = ("tensorflow", "jax", "torch")


def _has(python: str, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([python, "-c", probe], capture_output=True, timeout=60).returncode == 0


@lru_cache(maxsize=None)
def interpreters() -> dict[str, str]:
    """Backend -> an interpreter that has it (this one first)."""
    candidates = [sys.executable]
    for entry in os.environ.get("FMNIST_BACKEND_PYTHONS", "").split():
        path = entry.partition("=")[2] or entry
        if path and os.path.exists(path):
            candidates.append(os.path.abspath(path))
    found = {}
    for backend, python in itertools.product(BACKENDS, candidates):
        if backend not in found and _has(python, backend):
            found[backend] = python
    return found


def run_on(backend: str, script: str, tmp_path, extra_path: list[str] | None = None) -> str:
    """Run `script` with `backend`'s interpreter and KERAS_BACKEND; its stdout (fails with its stderr)."""
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
           "FMNIST_HOME": str(tmp_path / "home"), "FMNIST_PROFILE": "smoke",
           "PYTHONPATH": os.pathsep.join([*(extra_path or []), str(REPO / "src"), str(REPO / "tests")])}
    (tmp_path / "home" / "notebooks").mkdir(parents=True, exist_ok=True)
    (tmp_path / "home" / "pyproject.toml").write_text("[project]\nname = 'scratch'\n")
    done = subprocess.run([interpreters()[backend], "-c", textwrap.dedent(script)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"on {backend}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


NO_TENSORFLOW = """
    import importlib, pkgutil, sys
    import fmnist
    for module in pkgutil.iter_modules(fmnist.__path__):
        if module.name != "__main__":
            importlib.import_module("fmnist." + module.name)
    import keras, keras_tuner
    from conftest import learnable_split
    from fmnist.learn import environment, training
    split = learnable_split("98_backend_test")
    print(environment.describe())
    def build():
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        return model
    fit = lambda model, callbacks: model.fit(split.x_train, split.y_train, epochs=2, batch_size=32,
                                             validation_data=(split.x_val, split.y_val), callbacks=callbacks, verbose=0)
    training.over_seeds("tiny", build, fit, split, seeds=[0], tensorboard=True)
    assert "tensorflow" not in sys.modules
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_nothing_imports_tensorflow_off_the_tensorflow_backend(backend, tmp_path):
    """Any attempt to import TensorFlow (even one that would catch ImportError) leaves a mark."""
    if backend not in interpreters():
        pytest.skip(f"no interpreter with {backend} (make test provides .venv-jax)")
    fake = tmp_path / "fake"
    (fake / "tensorflow").mkdir(parents=True)
    mark = tmp_path / "tensorflow-imported.txt"
    (fake / "tensorflow" / "__init__.py").write_text(
        "import traceback\n"
        f"open({str(mark)!r}, 'a').write(''.join(traceback.format_stack()))\n"
        "raise ImportError('the test forbids importing tensorflow here')\n")
    out = run_on(backend, NO_TENSORFLOW, tmp_path, extra_path=[str(fake)])
    assert not mark.exists(), f"something imported tensorflow on {backend}:\n{mark.read_text()[-3000:]}"
    assert "CSVLogger" in out  # and TensorBoard logging said what it fell back to
    assert list((tmp_path / "home" / "logs" / "smoke" / "98_backend_test").glob("tiny_seed0.csv"))


@lru_cache(maxsize=None)
def keras_version(backend: str) -> str:
    probe = "import keras; print(keras.__version__)"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([interpreters()[backend], "-c", probe], env=env, capture_output=True, text=True, timeout=300)
    return done.stdout.strip().splitlines()[-1]


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3] if part.isdigit())


SAVE = """
    import keras, numpy as np
    from fmnist.learn.losses import SmoothedSparseCrossentropy
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"), keras.layers.BatchNormalization(),
        keras.layers.MaxPooling2D(), keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dropout(0.3), keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss=SmoothedSparseCrossentropy(0.1), metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 64)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # BatchNorm statistics and optimizer state, not defaults
    model.save("model.keras")
    np.save("inputs.npy", x[:16])
    np.save("predictions.npy", model.predict(x[:16], verbose=0))
"""

LOAD = """
    import numpy as np
    from fmnist.learn.saved_models import load_model
    model = load_model("model.keras")
    np.save("loaded.npy", model.predict(np.load("inputs.npy"), verbose=0))
"""


@pytest.mark.parametrize("saved_on, loaded_on",
                         [(a, b) for a, b in itertools.permutations(BACKENDS, 2)])
def test_a_model_saved_on_one_backend_predicts_the_same_on_another(saved_on, loaded_on, tmp_path):
    missing = [b for b in (saved_on, loaded_on) if b not in interpreters()]
    if missing:
        pytest.skip(f"no interpreter with {', '.join(missing)}")
    run_on(saved_on, SAVE, tmp_path)
    writer, reader = keras_version(saved_on), keras_version(loaded_on)
    if version_tuple(writer) > version_tuple(reader):
        # The legs have different Keras (make test: the floor on TensorFlow, the newest on JAX), and Keras
        # does not read what a newer Keras wrote: the project writes with the floor. What the reader gets
        # is then the package's error with both versions and the one line that installs the writer's.
        with pytest.raises(AssertionError) as failed:
            run_on(loaded_on, LOAD, tmp_path)
        assert "cannot read what newer versions write" in str(failed.value)
        assert f"saved by Keras {writer}, and this is Keras {reader}" in str(failed.value)
        assert f"pip install keras=={writer}" in str(failed.value)
        return
    run_on(loaded_on, LOAD, tmp_path)
    saved, loaded = np.load(tmp_path / "predictions.npy"), np.load(tmp_path / "loaded.npy")
    assert loaded.shape == saved.shape == (16, 10)
    np.testing.assert_allclose(loaded, saved, atol=1e-5)
    assert (loaded.argmax(1) == saved.argmax(1)).all()
