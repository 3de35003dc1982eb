"""Top-k item indices for many users at once, with each user's seen items excluded."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def top_k(
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    item_biases: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | None = None,
    batch_size: int = 2048,
    progress=None,
) -> np.ndarray:
    """int32 (n_users, k) ranked item indices, best first; -1 pads when fewer than k items are left.

    `exclude` row i holds the items user i must not get (its seen items).
    """
    n_users, n_items = user_vectors.shape[0], item_vectors.shape[0]
    k_eff = min(k, n_items)
    result = np.full((n_users, k), -1, dtype=np.int32)
    item_t = np.ascontiguousarray(item_vectors.T, dtype=np.float32)
    biases = item_biases.astype(np.float32)
    for start in range(0, n_users, batch_size):
        stop = min(start + batch_size, n_users)
        scores = user_vectors[start:stop].astype(np.float32) @ item_t
        scores += biases
        if exclude is not None:
            block = exclude[start:stop]
            rows = np.repeat(np.arange(stop - start), np.diff(block.indptr))
            scores[rows, block.indices] = -np.inf
        if k_eff < n_items:
            candidates = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        else:
            candidates = np.tile(np.arange(n_items), (stop - start, 1))
        candidate_scores = np.take_along_axis(scores, candidates, axis=1)
        order = np.argsort(-candidate_scores, axis=1, kind="stable")
        ranked = np.take_along_axis(candidates, order, axis=1)
        ranked_scores = np.take_along_axis(candidate_scores, order, axis=1)
        ranked = np.where(np.isneginf(ranked_scores), -1, ranked)
        result[start:stop, :k_eff] = ranked
        if progress is not None:
            progress(stop - start)
    return result
