"""Ranking items: top-k item indices for many users at once (each user's seen items excluded), and
the popularity ranking that is the baseline and the fallback."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import scipy.sparse as sp

from common.topk import BLOCK, best_unordered
from trainer.features import FeatureSpace


def top_k(
    user_vectors: np.ndarray,
    item_vectors: np.ndarray,
    item_biases: np.ndarray,
    k: int,
    exclude: sp.csr_matrix | None = None,
    batch_size: int = 2048,
    progress=None,
    threads: int = 1,
) -> np.ndarray:
    """int32 (n_users, k) ranked item indices, best first; -1 pads when fewer than k items are left.

    `exclude` row i holds the items user i must not get (its seen items). Batches run on
    `threads` threads (numpy releases the GIL in the heavy steps).
    """
    n_users, n_items = user_vectors.shape[0], item_vectors.shape[0]
    k_eff = min(k, n_items)
    result = np.full((n_users, k), -1, dtype=np.int32)
    # Pad the catalog to whole blocks with items that can never win (-inf bias).
    padded = -(-n_items // BLOCK) * BLOCK
    item_t = np.zeros((item_vectors.shape[1], padded), dtype=np.float32)
    item_t[:, :n_items] = item_vectors.T
    biases = np.full(padded, -np.inf, dtype=np.float32)
    biases[:n_items] = item_biases

    def rank_batch(start: int) -> None:
        stop = min(start + batch_size, n_users)
        scores = user_vectors[start:stop].astype(np.float32) @ item_t
        scores += biases
        if exclude is not None:
            block = exclude[start:stop]
            rows = np.repeat(np.arange(stop - start), np.diff(block.indptr))
            scores[rows, block.indices] = -np.inf
        candidates = best_unordered(scores, k_eff)
        candidate_scores = np.take_along_axis(scores, candidates, axis=1)
        order = np.argsort(-candidate_scores, axis=1, kind="stable")
        ranked = np.take_along_axis(candidates, order, axis=1)
        ranked_scores = np.take_along_axis(candidate_scores, order, axis=1)
        result[start:stop, :k_eff] = np.where(np.isneginf(ranked_scores), -1, ranked)

    starts = range(0, n_users, batch_size)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for start, _ in zip(starts, pool.map(rank_batch, starts)):
            if progress is not None:
                progress(min(batch_size, n_users - start))
    return result


def popularity_biases(space: FeatureSpace, positives: pd.DataFrame) -> np.ndarray:
    """float32 (n_items,) scores that rank `space`'s items by their number of positives (log1p),
    most first; items without any come last, in index order."""
    counts = np.bincount(space.item_index(positives["movie_id"].to_numpy()).clip(0), minlength=space.n_items)
    counts = counts.astype(np.float32)
    # A tiny, fixed tie-break keeps the ranking deterministic among equally popular items.
    return np.log1p(counts) - np.arange(space.n_items, dtype=np.float32) * 1e-9
