"""MODEL_CACHE_DIR, owned here alone: which directory a replica's model files live in, that it is
private, what is inside it, and what is cleaned up.

- Unset: a fresh directory (mkdtemp: mode 0700) in tmpfs (/dev/shm when writable), named after the
  process that made it: gunicorn's master (``export_for_workers``, from gunicorn.conf.py), whose
  workers inherit it through the environment, or the process that calls ``create_app`` without
  gunicorn. It is removed when that process exits; one left by a process killed with SIGKILL is
  removed by the next replica of this user that starts (model files in tmpfs are memory).
- Set: created with mode 0700 if missing, and refused (ValueError) unless it is a real directory
  of this user that nobody else can write to. Workers map what they find there as a model, so a
  directory another local user could plant files in (a fixed path in world-writable /dev/shm or
  /tmp) must never be used.

Layout, and the one place that knows it::

    <version>/              one version as <array>.npy files; complete once COMPLETE exists in it
    <version>.lock          flock: the first worker writes the version, the others wait, then map it
    .<version>.<pid>.tmp    a version being written by worker <pid>, renamed to <version>/ when complete

Staging directories of workers that no longer run are removed whenever a process opens the directory.
gunicorn.conf.py makes its PROMETHEUS_MULTIPROC_DIR with ``fresh`` too (same lifetime, same cleanup).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import stat
import tempfile
from contextlib import contextmanager
from pathlib import Path

VARIABLE = "MODEL_CACHE_DIR"
MODELS_PREFIX = "recsys-models-"
COMPLETE = "COMPLETE"

_created: list[tuple[int, Path]] = []  # (creating pid, directory): removed when that process exits


def configured(environ) -> Path | None:
    """MODEL_CACHE_DIR from `environ`; None when unset (a fresh directory will be made)."""
    value = environ.get(VARIABLE)
    return Path(value) if value else None


def ensure_private(path: Path) -> Path:
    """`path`, created with mode 0700 if missing; ValueError unless it is a real directory of this
    user that nobody else can write to."""
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
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to uid {info.st_uid}, not to this user (uid {os.geteuid()})"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"is writable by other users (mode {stat.S_IMODE(info.st_mode):o})"
    if problem:
        raise ValueError(f"{VARIABLE} {path} {problem}: use a private directory (mode 700), "
                         f"or leave {VARIABLE} unset for a fresh one")
    return path


def tmpfs() -> Path | None:
    """/dev/shm when this user can write there (model files are then memory shared by the workers)."""
    shm = Path("/dev/shm")  # nosec B108  # only the parent of mkdtemp's fresh 0700 directories
    return shm if shm.is_dir() and os.access(shm, os.W_OK) else None


def fresh(prefix: str = MODELS_PREFIX) -> Path:
    """A new private directory in tmpfs named ``<prefix><pid>-<random>``, removed when this process
    exits; directories of this user with the same prefix whose process is gone are removed first."""
    base = tmpfs()
    _remove_orphans(Path(base or tempfile.gettempdir()), prefix)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=base))
    _created.append((os.getpid(), path))
    return path


def remove_created() -> None:
    """Remove the fresh directories this process made (a forked child inherits the list, not the job)."""
    for pid, path in list(_created):
        if pid == os.getpid():
            shutil.rmtree(path, ignore_errors=True)
            _created.remove((pid, path))


atexit.register(remove_created)


def _remove_orphans(base: Path, prefix: str) -> None:
    for path in base.glob(f"{prefix}*-*"):
        try:
            pid = int(path.name[len(prefix):].split("-", 1)[0])
            if path.lstat().st_uid != os.geteuid():
                continue
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, OSError):
            continue


def open_cache(path: Path | None) -> "CacheDir":
    """The cache directory a process uses: `path` (MODEL_CACHE_DIR) checked, or a fresh one."""
    return CacheDir(fresh() if path is None else ensure_private(path))


def export_for_workers(environ=None) -> Path:
    """In a server's master before it forks (gunicorn's on_starting): open MODEL_CACHE_DIR, or make
    a fresh one, and put it into the environment the workers inherit, so that they all share it."""
    environ = os.environ if environ is None else environ
    cache = open_cache(configured(environ))
    environ[VARIABLE] = str(cache.path)
    return cache.path


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, but not ours to signal
    return True


class CacheDir:
    """A private MODEL_CACHE_DIR and its layout (see the module docstring)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.remove_stale()

    def version_dir(self, version: str) -> Path:
        return self.path / version

    def complete(self, version: str) -> bool:
        return (self.path / version / COMPLETE).exists()

    @contextmanager
    def locked(self, version: str, blocking: bool = True):
        """Hold `version`'s lock; yields False at once when `blocking` is off and someone holds it."""
        with open(self.path / f"{version}.lock", "a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def writing(self, version: str):
        """An empty staging directory to write `version` into; it becomes the version's directory,
        marked complete, only when the block ends without an error. Hold the version's lock."""
        staging = self.path / f".{version}.{os.getpid()}.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            yield staging
            (staging / COMPLETE).write_text(version)
            shutil.rmtree(self.version_dir(version), ignore_errors=True)
            staging.rename(self.version_dir(version))
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def discard_except(self, keep: set[str]) -> list[str]:
        """Remove versions (and their locks) not in `keep` that nobody is loading; workers that still
        map one keep its pages until they drop it. Returns the versions removed."""
        removed = []
        names = {p.name for p in self.path.iterdir() if p.is_dir() and not p.name.startswith(".")}
        names |= {p.name[: -len(".lock")] for p in self.path.glob("*.lock")}
        for name in sorted(names - set(keep)):
            with self.locked(name, blocking=False) as acquired:
                if acquired:
                    shutil.rmtree(self.path / name, ignore_errors=True)
                    (self.path / f"{name}.lock").unlink(missing_ok=True)
                    removed.append(name)
        return removed

    def remove_stale(self) -> None:
        """Staging directories of workers that were killed while writing a version."""
        for staging in self.path.glob(".*.*.tmp"):
            try:
                pid = int(staging.name.rsplit(".", 2)[1])
            except ValueError:
                continue
            if not _running(pid):
                shutil.rmtree(staging, ignore_errors=True)
