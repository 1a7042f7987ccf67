"""JAX's persistent compilation cache, so each distinct training step is compiled once per machine.

On JAX, Keras compiles every new model's training, evaluation and prediction steps with XLA before
their first batch: seconds each on a CPU, for every seed, every notebook and every rerun that builds
the same architecture, because JAX's in-memory cache belongs to one function object and each new
model brings new ones. JAX's persistent cache is keyed by the compiled program itself (and by the
JAX version and device), and weights are the program's arguments, not part of it: a model that
differs from an earlier one only in its seed reuses that compilation. This changes nothing that is
computed, only when it is compiled. Other backends have nothing to cache, so this does nothing there.

The cache lives in `cache/jax-compilation/` (git-ignored), or wherever `$JAX_COMPILATION_CACHE_DIR`
points when the user set it.
"""

from __future__ import annotations

import os
from pathlib import Path

from fmnist import paths

# Compilations faster than this are cheaper to redo than to read back from disk.
MIN_COMPILE_SECONDS = 0.5


def directory() -> Path:
    """Where the cache is kept: `$JAX_COMPILATION_CACHE_DIR`, or `cache/jax-compilation/` in the repository."""
    chosen = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    return Path(chosen) if chosen else paths.repo_root() / "cache" / "jax-compilation"


def enable(backend: str) -> Path | None:
    """Turn the persistent cache on when `backend` is JAX; the folder used, or None on other backends."""
    if backend != "jax":
        return None
    import jax  # only the JAX environment has it
    from jax.experimental.compilation_cache import compilation_cache  # likewise

    folder = directory()
    folder.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_SECONDS)
    compilation_cache.set_cache_dir(str(folder))
    # JAX decides once, at its first compilation, whether to use the cache: let it decide again,
    # in case something compiled before this call (a second setup in one kernel, a test session)
    compilation_cache.reset_cache()
    return folder
