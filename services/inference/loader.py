"""Loads one model version: fetch from Redis, verify, map into memory shared by the workers, warm up.

The first worker of a replica that wants a version fetches it through the weight cache (every chunk
checksummed), validates it as a ModelBundle and writes it as .npy files under MODEL_CACHE_DIR
(tmpfs in /dev/shm by default). Every worker then maps those files read-only, so the big arrays
exist once per replica however many workers it runs, also after a hot swap. A file lock makes
the other workers wait for the first one instead of fetching the same version again.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import json
import logging
import os
import shutil
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.bundle import ModelBundle
from common.recommend import Recommender
from common.weightcache import WeightStore

log = logging.getLogger(__name__)
COMPLETE = "COMPLETE"


@dataclass(frozen=True)
class LoadedModel:
    version: str
    recommender: Recommender
    metadata: dict
    loaded_at: float


@contextmanager
def _locked(path: Path, blocking: bool = True):
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def private_cache_dir(path: Path) -> Path:
    """MODEL_CACHE_DIR, created with mode 0700 if missing; refused (ValueError) unless it is a real
    directory of this user that nobody else can write to. Workers map what they find there as a
    model, so a directory another local user could plant files in (a fixed path in world-writable
    /dev/shm or /tmp) must not be used."""
    path = Path(path)
    try:
        path.mkdir(parents=True)
        path.chmod(0o700)  # mkdir's mode is subject to the umask
    except FileExistsError:
        pass
    info = path.lstat()
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    if problem:
        raise ValueError(f"MODEL_CACHE_DIR {path} {problem}: use a private directory (mode 700), "
                         f"or leave MODEL_CACHE_DIR unset under gunicorn for a fresh one")
    return path


class ModelLoader:
    def __init__(self, store: WeightStore, cache_dir: Path):
        self.store = store
        self.cache_dir = private_cache_dir(cache_dir)

    def load(self, version: str) -> LoadedModel:
        """A verified, warmed-up model, or an exception (WeightCacheError, BundleError, RedisError)."""
        started = time.monotonic()
        directory = self.cache_dir / version
        with _locked(self.cache_dir / f"{version}.lock"):
            if not (directory / COMPLETE).exists():
                self._materialize(version, directory)
        arrays = {path.stem: np.load(path, mmap_mode="r", allow_pickle=False) for path in directory.glob("*.npy")}
        bundle = ModelBundle.from_arrays(arrays)
        metadata = json.loads((directory / "metadata.json").read_text())
        recommender = Recommender(bundle)
        _warm_up(recommender)
        _release_freed_memory()
        log.info("loaded %s (%d items, %d known users) in %.2f s", version, bundle.n_items, len(bundle.known_user_ids), time.monotonic() - started)
        return LoadedModel(version, recommender, metadata, time.time())

    def _materialize(self, version: str, directory: Path) -> None:
        manifest, arrays = self.store.fetch(version)
        ModelBundle.from_arrays(arrays)  # refuse a bad model before it reaches the disk
        staging = self.cache_dir / f".{version}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        for name, array in arrays.items():
            np.save(staging / f"{name}.npy", array, allow_pickle=False)
        (staging / "metadata.json").write_text(json.dumps(manifest.metadata))
        (staging / COMPLETE).write_text(version)
        shutil.rmtree(directory, ignore_errors=True)
        staging.rename(directory)

    def discard_except(self, keep: set[str]) -> None:
        """Remove mapped versions nobody is loading; workers still mapping them keep their pages."""
        for path in self.cache_dir.iterdir():
            if path.is_dir() and not path.name.startswith(".") and path.name not in keep:
                with _locked(self.cache_dir / f"{path.name}.lock", blocking=False) as acquired:
                    if acquired:
                        shutil.rmtree(path, ignore_errors=True)
                        (self.cache_dir / f"{path.name}.lock").unlink(missing_ok=True)


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
