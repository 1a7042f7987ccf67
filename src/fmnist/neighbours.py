"""Nearest training images of a test image, in pixel space: is a mistake the data's ambiguity?"""

from __future__ import annotations

import numpy as np

from fmnist.stats import EvaluationError, _positive_int


def nearest_neighbours(query, pool, k: int = 3) -> np.ndarray:
    """Indices (len(query), k) of the `k` images of `pool` closest to each query image in pixel space."""
    from sklearn.neighbors import NearestNeighbors

    query, pool = np.asarray(query, dtype=np.float32), np.asarray(pool, dtype=np.float32)
    k = _positive_int("k", k)
    if len(pool) < k:
        raise EvaluationError(f"nearest_neighbours: the pool has {len(pool)} images, fewer than k={k}.")
    if query.shape[1:] != pool.shape[1:]:
        raise EvaluationError(f"query images {query.shape[1:]} and pool images {pool.shape[1:]} differ in shape.")
    finder = NearestNeighbors(n_neighbors=k).fit(pool.reshape(len(pool), -1))
    return finder.kneighbors(query.reshape(len(query), -1), return_distance=False)
