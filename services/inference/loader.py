"""Loads one model version: fetch, validate, write into the cache directory, map, warm up.

The first worker of a replica that wants a version fetches it through the weight cache (every chunk
checksummed), validates it as a ModelBundle (the one place a version enters the replica, so the one
place it is validated) and writes it as .npy files into the cache directory (tmpfs). A file lock
makes the other workers wait for it instead of fetching the same version again; then every worker
maps those files read-only, so the big arrays exist once per replica however many workers it runs,
also after a hot swap. What serves is decided elsewhere (inference/manager.py).
"""

from __future__ import annotations

import ctypes
import gc
import logging
import time
from dataclasses import dataclass, fields

import numpy as np

from common.bundle import ModelBundle
from common.recommend import Recommender
from common.weightcache import WeightStore
from inference.cachedir import CacheDir

log = logging.getLogger(__name__)
ARRAYS = tuple(f.name for f in fields(ModelBundle))


@dataclass(frozen=True)
class LoadedModel:
    version: str
    recommender: Recommender


class ModelLoader:
    def __init__(self, store: WeightStore, cache: CacheDir):
        self.store = store
        self.cache = cache

    def load(self, version: str) -> LoadedModel:
        """A validated, mapped, warmed-up model. Raises WeightIntegrityError (a chunk or the manifest
        is corrupt), another WeightCacheError (e.g. no such version), BundleError (the arrays do not
        form a valid model), OSError or ValueError (the cache directory cannot be written or mapped)
        and redis.RedisError (Redis went away while fetching)."""
        started = time.monotonic()
        try:
            with self.cache.locked(version):
                if not self.cache.complete(version):
                    self._write(version, self._fetch_valid(version))
            bundle = self._map(version)
        finally:
            _release_freed_memory()
        recommender = Recommender(bundle)
        _warm_up(recommender)
        log.info("loaded %s (%d items, %d known users) in %.2f s",
                 version, bundle.n_items, len(bundle.known_user_ids), time.monotonic() - started)
        return LoadedModel(version, recommender)

    def discard_except(self, keep: set[str]) -> list[str]:
        """Remove the files of every version not in `keep` (the manager decides which)."""
        return self.cache.discard_except(keep)

    def _fetch_valid(self, version: str) -> dict[str, np.ndarray]:
        _, arrays = self.store.fetch(version)  # checksums, sizes, dtypes
        return ModelBundle.from_arrays(arrays).to_arrays()  # shapes, indices, finiteness: before the disk

    def _write(self, version: str, arrays: dict[str, np.ndarray]) -> None:
        with self.cache.writing(version) as staging:
            for name, array in arrays.items():
                np.save(staging / f"{name}.npy", array, allow_pickle=False)

    def _map(self, version: str) -> ModelBundle:
        """The version's files mapped read-only. Not validated again: they are what _fetch_valid
        accepted, written by a worker of this replica into a directory nobody else can write to."""
        directory = self.cache.version_dir(version)
        return ModelBundle(**{name: np.load(directory / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                              for name in ARRAYS})


def _release_freed_memory() -> None:
    """Hand the fetch buffers back to the OS: glibc keeps freed large blocks otherwise, which cost
    the worker that fetched a version 50-130 MB after every swap (loadtests/results/findings.md)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc


def _warm_up(recommender: Recommender) -> None:
    """Run real queries once so the first user request does not pay for page faults and caches."""
    bundle = recommender.bundle
    if len(bundle.known_user_ids):
        for row in (0, len(bundle.known_user_ids) // 2, len(bundle.known_user_ids) - 1):
            recommender.movie_list(recommender.known_list(int(bundle.known_user_ids[row])) or [])
    if len(bundle.table_user_ids):
        features = recommender.table_features(int(bundle.table_user_ids[0]))
        if features:
            recommender.movie_list(recommender.for_features(features))
    recommender.movie_list(recommender.popular())
