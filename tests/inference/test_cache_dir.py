"""MODEL_CACHE_DIR: workers map what they find there as a model, so it must be private; one module
(inference/cachedir.py) decides where it is, checks it and cleans it up."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from inference import cachedir
from inference.app import create_app
from inference.config import InferenceConfig

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "services" / "inference" / "gunicorn.conf.py"


def test_a_missing_cache_dir_is_created_private(tmp_path):
    old = os.umask(0o002)
    try:
        path = cachedir.ensure_private(tmp_path / "a" / "models")
    finally:
        os.umask(old)
    assert path.is_dir() and path.stat().st_mode & 0o777 == 0o700


def test_a_cache_dir_others_can_write_to_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ValueError, match=rf"MODEL_CACHE_DIR {shared} is writable by other users \(mode 777\)"):
        cachedir.ensure_private(shared)
    (tmp_path / "link").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="is a symbolic link"):
        cachedir.ensure_private(tmp_path / "link")
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is not a directory"):
        cachedir.ensure_private(tmp_path / "file")


def test_the_app_refuses_to_start_on_one(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # sticky, like /tmp and /dev/shm: others still plant files
    with pytest.raises(ValueError, match="writable by other users"):
        create_app(InferenceConfig(cache_dir=shared, start_watcher=False))


def test_the_config_reads_the_variable_and_leaves_the_default_to_cachedir():
    assert InferenceConfig.from_env({"MODEL_CACHE_DIR": "/somewhere/models"}).cache_dir == Path("/somewhere/models")
    assert InferenceConfig.from_env({}).cache_dir is None
    assert InferenceConfig.from_env({"MODEL_CACHE_DIR": ""}).cache_dir is None


def test_unset_means_a_fresh_private_dir_removed_when_its_process_exits():
    app = create_app(InferenceConfig(start_watcher=False))
    path = app.extensions["model_manager"].loader.cache.path
    try:
        assert path.is_dir() and path.stat().st_mode & 0o777 == 0o700
        assert path.name.startswith(f"{cachedir.MODELS_PREFIX}{os.getpid()}-")
        if cachedir.tmpfs():
            assert path.parent == cachedir.tmpfs()
        assert create_app(InferenceConfig(start_watcher=False)).extensions["model_manager"].loader.cache.path != path
    finally:
        cachedir.remove_created()
    assert not path.exists()


def test_dirs_of_dead_processes_and_their_half_written_versions_are_removed(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # a pid that is certainly gone afterwards
    dead.wait()
    base = cachedir.tmpfs() or Path(os.environ.get("TMPDIR", "/tmp"))
    orphan = base / f"{cachedir.MODELS_PREFIX}{dead.pid}-test"
    alive = base / f"{cachedir.MODELS_PREFIX}{os.getpid()}-test"
    try:
        orphan.mkdir()
        alive.mkdir()
        fresh = cachedir.fresh()
        assert not orphan.exists() and alive.exists() and fresh.exists()
    finally:
        for path in (orphan, alive):
            if path.exists():
                path.rmdir()
        cachedir.remove_created()

    root = cachedir.ensure_private(tmp_path / "models")
    (root / f".v3-abcdef.{dead.pid}.tmp").mkdir()
    (root / f".v4-abcdef.{os.getpid()}.tmp").mkdir()  # being written by a worker that runs
    (root / "v2-abcdef").mkdir()
    cachedir.open_cache(root)
    assert sorted(p.name for p in root.iterdir()) == [f".v4-abcdef.{os.getpid()}.tmp", "v2-abcdef"]


def test_gunicorn_master_exports_one_private_dir_to_its_workers(tmp_path):
    hooks = runpy.run_path(str(GUNICORN_CONF))
    saved = {name: os.environ.get(name) for name in (cachedir.VARIABLE, "PROMETHEUS_MULTIPROC_DIR")}
    try:
        os.environ.pop(cachedir.VARIABLE, None)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
        hooks["on_starting"](None)
        exported = Path(os.environ[cachedir.VARIABLE])
        assert exported.is_dir() and exported.stat().st_mode & 0o777 == 0o700
        assert InferenceConfig.from_env().cache_dir == exported  # what every worker's create_app opens
        hooks["on_exit"](None)
        assert not exported.exists()

        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        os.environ[cachedir.VARIABLE] = str(shared)
        with pytest.raises(ValueError, match="writable by other users"):  # the master refuses before forking
            hooks["on_starting"](None)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        cachedir.remove_created()
