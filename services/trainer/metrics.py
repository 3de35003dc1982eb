"""Ranking metrics, each a short function over one user's truth and ranked prediction.

`truth` is the set of relevant items for a user, `predicted` the ranked list the model returned
(best first). Averages over users are taken by the caller (`evaluate.py`).
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence


def precision_at_k(truth: set, predicted: Sequence, k: int) -> float:
    return sum(1 for item in predicted[:k] if item in truth) / k


def recall_at_k(truth: set, predicted: Sequence, k: int) -> float:
    if not truth:
        return 0.0
    return sum(1 for item in predicted[:k] if item in truth) / len(truth)


def ndcg_at_k(truth: set, predicted: Sequence, k: int) -> float:
    dcg = sum(1.0 / math.log2(rank + 2) for rank, item in enumerate(predicted[:k]) if item in truth)
    ideal = sum(1.0 / math.log2(rank + 2) for rank in range(min(len(truth), k)))
    return dcg / ideal if ideal else 0.0


def average_precision_at_k(truth: set, predicted: Sequence, k: int) -> float:
    """AP@k, normalised by min(|truth|, k) so that a perfect list scores 1."""
    if not truth:
        return 0.0
    hits, total = 0, 0.0
    for rank, item in enumerate(predicted[:k]):
        if item in truth:
            hits += 1
            total += hits / (rank + 1)
    return total / min(len(truth), k)


def catalog_coverage(predicted_lists: Iterable[Sequence], n_items: int, k: int) -> float:
    """Share of the catalog that appears in at least one user's top k."""
    shown = set()
    for predicted in predicted_lists:
        shown.update(predicted[:k])
    return len(shown) / n_items if n_items else 0.0
