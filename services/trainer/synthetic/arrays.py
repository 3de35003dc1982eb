"""Small numpy helpers the synthetic-data modules share."""

from __future__ import annotations

import numpy as np


def within_group_index(sizes: np.ndarray) -> np.ndarray:
    """[2, 3] -> [0, 1, 0, 1, 2]: each element's position inside its group."""
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(int(sizes.sum())) - starts


def normalized(weights) -> np.ndarray:
    """Weights scaled to sum to 1 (probabilities for rng.choice)."""
    weights = np.asarray(weights, dtype=float)
    return weights / weights.sum()
