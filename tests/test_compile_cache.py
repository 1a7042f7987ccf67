"""JAX's persistent compilation cache: on only on JAX, and a second model of the same architecture reuses it."""

import os
import subprocess
import sys
import textwrap

import keras
import pytest

from fmnist.learn import compile_cache


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
    # A fresh interpreter: the test session's own JAX decided about its cache long ago. Counting the
    # cache's entries, not timing: every compilation is stored (threshold 0), so the second seed
    # must add none if it found all its programs there, on a fast machine or a loaded one alike.
    script = textwrap.dedent("""
        import os
        import numpy as np
        import jax
        import keras
        from fmnist.learn import compile_cache, repro

        folder = compile_cache.enable("jax")
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        x, y = np.random.rand(256, 28, 28, 1).astype("float32"), np.arange(256) % 10
        entries = []
        for seed in (0, 1):
            repro.seed_everything(seed)
            model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(16, 3, activation="relu"),
                                      keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
            model.compile("adam", "sparse_categorical_crossentropy")
            model.fit(x, y, batch_size=100, epochs=1, verbose=0)  # 100, 100, 56: two shapes of batch
            entries.append(len(os.listdir(folder)))
        print(*entries)
    """)
    environment = dict(os.environ, KERAS_BACKEND="jax", JAX_COMPILATION_CACHE_DIR=str(tmp_path / "cache"))
    done = subprocess.run([sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    after_first, after_second = map(int, done.stdout.split()[-2:])
    assert after_first >= 2, f"{after_first} cache entries after the first model: the training steps were not stored"
    assert after_second == after_first, (f"the second seed compiled {after_second - after_first} program(s) again "
                                         "instead of reading them from the cache")
