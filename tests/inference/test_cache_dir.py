"""MODEL_CACHE_DIR: workers map what they find there as a model, so it must be private."""

from __future__ import annotations

import os

import pytest

from inference.app import create_app
from inference.config import InferenceConfig
from inference.loader import private_cache_dir


def test_a_missing_cache_dir_is_created_private(tmp_path):
    old = os.umask(0o002)
    try:
        path = private_cache_dir(tmp_path / "a" / "models")
    finally:
        os.umask(old)
    assert path.is_dir() and path.stat().st_mode & 0o777 == 0o700


def test_a_cache_dir_others_can_write_to_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(ValueError, match=rf"MODEL_CACHE_DIR {shared} is writable by other users \(mode 777\)"):
        private_cache_dir(shared)
    (tmp_path / "link").symlink_to(tmp_path / "a", target_is_directory=True)
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="is a symbolic link"):
        private_cache_dir(tmp_path / "link")


def test_the_app_refuses_to_start_on_one(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # sticky, like /tmp and /dev/shm: others still plant files
    with pytest.raises(ValueError, match="writable by other users"):
        create_app(InferenceConfig(cache_dir=shared, start_watcher=False))
