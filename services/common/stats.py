"""Confidence intervals, one definition each, for the online evaluation and the experiments.

- `wilson(k, n)`: the Wilson score interval of a proportion k/n (good at small n and near 0 or 1,
  where the normal approximation is not).
- `mean_interval(total, squares, n)`: the normal-approximation interval of a mean from its sum and
  sum of squares (what a stream can keep without the values).
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def wilson(k: float, n: float, z: float = Z95) -> tuple[float, float] | None:
    if n <= 0:
        return None
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def mean_interval(total: float, squares: float, n: float, z: float = Z95) -> tuple[float, float] | None:
    if n <= 0:
        return None
    mean = total / n
    if n < 2:
        return mean, mean
    variance = max(0.0, (squares - n * mean * mean) / (n - 1))
    half = z * math.sqrt(variance / n)
    return mean - half, mean + half
