"""JAX's persistent compilation cache: on only on JAX, and a second model of the same architecture reuses it."""

import os
import subprocess
import sys
import textwrap

import keras
import pytest

from fmnist import compile_cache


def test_other_backends_cache_nothing_and_import_no_jax(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # importing jax would now fail
    assert compile_cache.enable("tensorflow") is None
    assert compile_cache.enable("torch") is None


def test_the_folder_is_in_the_repository_unless_the_user_chose_one(monkeypatch, tmp_path):
    monkeypatch.delenv("JAX_COMPILATION_CACHE_DIR", raising=False)
    assert compile_cache.directory().parts[-2:] == ("cache", "jax-compilation")
    monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path))
    assert compile_cache.directory() == tmp_path


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the cache exists only on JAX (the JAX leg of make test)")
def test_a_second_seed_of_the_same_model_is_read_from_the_cache(tmp_path):
    # a fresh interpreter: the test session's own JAX has compiled (and decided about its cache) long ago
    script = textwrap.dedent("""
        import time
        import numpy as np
        import keras
        from fmnist import compile_cache, repro

        compile_cache.enable("jax")
        x, y = np.random.rand(256, 28, 28, 1).astype("float32"), np.arange(256) % 10
        seconds = []
        for seed in (0, 1):
            repro.seed_everything(seed)
            model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3, activation="relu"),
                                      keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
            model.compile("adam", "sparse_categorical_crossentropy")
            started = time.perf_counter()
            model.fit(x, y, batch_size=64, epochs=1, verbose=0)
            seconds.append(time.perf_counter() - started)
        print(seconds[0], seconds[1])
    """)
    environment = dict(os.environ, KERAS_BACKEND="jax", JAX_COMPILATION_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = map(float, done.stdout.split()[-2:])
    assert any((tmp_path / "cache").iterdir()), "nothing was written to the cache"
    assert second < first / 2, f"the second seed took {second:.2f} s after {first:.2f} s: not read from the cache"
