"""What the simulator sends and what its answers may contain: user-id mix and catalog.

Shared by the load test (locustfile.py), the benchmark (bench_locustfile.py) and the overload run
(openloop.py, overload.py); imported as `loadtests.traffic` everywhere. Stdlib and numpy only, so
it imports the same inside locust (gevent) and in plain Python.

- :class:`UserMix` draws user ids like the simulator's traffic: known ids with a Zipf-like skew (a
  few heavy users make a large share of the requests; which ids are heavy is a fixed random
  permutation, not simply the smallest ids) plus a share of unknown ids above the known range.
- :func:`load_catalog` reads the movie ids a model can answer with (model dir, bundle .npy,
  movies.csv or a text file with one id per line).
- the answer check is harness.answers.check_answer (one definition for tests, benchmarks and the
  container suite).
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np

MAX_USER_ID = 10**12 - 1  # the service accepts at most 12 digits
MAX_KNOWN_RANGE = 20_000_000


def parse_range(text: str) -> tuple[int, int]:
    """'1-6000' -> (1, 6000); both ends included."""
    match = re.fullmatch(r"\s*(\d+)\s*(?:-|\.\.)\s*(\d+)\s*", str(text))
    if not match:
        raise ValueError(f"user id range {text!r}: expected LOW-HIGH, e.g. 1-6000")
    low, high = int(match.group(1)), int(match.group(2))
    if not 0 <= low <= high <= MAX_USER_ID:
        raise ValueError(f"user id range {text!r}: need 0 <= LOW <= HIGH <= {MAX_USER_ID}")
    return low, high


class UserMix:
    """Endless stream of (user id, 'known' | 'unknown') drawn in blocks with numpy (cheap per request)."""

    def __init__(self, known: tuple[int, int] = (1, 6000), unknown_share: float = 0.05, zipf_exponent: float = 1.0,
                 unknown: tuple[int, int] | None = None, seed: int | None = None, block: int = 65536):
        low, high = known
        n_known = high - low + 1
        if n_known > MAX_KNOWN_RANGE:
            raise ValueError(f"known user range has {n_known:,} ids; at most {MAX_KNOWN_RANGE:,} are supported")
        if not 0.0 <= unknown_share <= 1.0:
            raise ValueError(f"unknown share {unknown_share} is not within 0..1")
        if zipf_exponent < 0:
            raise ValueError(f"zipf exponent {zipf_exponent} is negative")
        self.known, self.unknown_share, self.zipf_exponent = (low, high), unknown_share, zipf_exponent
        self.unknown = unknown or (high + 1, min(MAX_USER_ID, high + 1_000_000))
        if self.unknown[0] <= high and self.unknown[1] >= low:
            raise ValueError(f"unknown user range {self.unknown} overlaps the known range {self.known}")
        self._rng = np.random.default_rng(seed)
        weights = 1.0 / np.arange(1, n_known + 1, dtype=np.float64) ** zipf_exponent  # rank r -> 1/r^s
        self._cdf = np.cumsum(weights)
        self._cdf /= self._cdf[-1]
        # Which ids are the heavy users: spread over the range, the same in every run (fixed seed).
        self._id_of_rank = low + np.random.default_rng(0).permutation(n_known)
        self._block = block
        self._ids: list[int] = []
        self._kinds: list[bool] = []

    def top_share(self, n: int = 10) -> float:
        """Share of the known-user requests that the n heaviest users make."""
        return float(self._cdf[min(n, len(self._cdf)) - 1])

    def _refill(self) -> None:
        size = self._block
        ranks = np.searchsorted(self._cdf, self._rng.random(size), side="right")
        ranks = np.minimum(ranks, len(self._cdf) - 1)
        ids = self._id_of_rank[ranks]
        unknown = self._rng.random(size) < self.unknown_share
        ids = np.where(unknown, self._rng.integers(self.unknown[0], self.unknown[1] + 1, size=size), ids)
        self._ids = ids.tolist()
        self._kinds = unknown.tolist()
        self._ids.reverse()
        self._kinds.reverse()

    def next(self) -> tuple[int, str]:
        if not self._ids:
            self._refill()
        return self._ids.pop(), ("unknown" if self._kinds.pop() else "known")


def load_catalog(path: str | Path | None) -> frozenset[str] | None:
    """Movie ids from a model dir (bundle/movie_ids.npy), a bundle .npy, a data dir or movies.csv, or a text file."""
    if not path:
        return None
    path = Path(path)
    if path.is_dir():
        for candidate in (path / "bundle" / "movie_ids.npy", path / "movie_ids.npy", path / "movies.csv"):
            if candidate.exists():
                return load_catalog(candidate)
        raise ValueError(f"catalog {path}: no bundle/movie_ids.npy, movie_ids.npy or movies.csv in this directory")
    if not path.exists():
        raise ValueError(f"catalog {path}: no such file")
    if path.suffix == ".npy":
        ids = np.load(path, allow_pickle=False).tolist()
    elif path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            column = header.index("movie_id") if "movie_id" in header else 0
            ids = [row[column] for row in reader if row]
            if "movie_id" not in header and header:
                ids.insert(0, header[0])
    else:
        ids = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"catalog {path}: no movie ids")
    return frozenset(str(i) for i in ids)
