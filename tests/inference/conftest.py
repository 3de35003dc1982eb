"""An inference app (Flask test client) following a real redis-server."""

from __future__ import annotations

import time
import uuid

import pytest

from common.weightcache import WeightStore
from inference.app import create_app
from inference.config import InferenceConfig
from tests.support.bundles import make_bundle


def wait_until(condition, timeout=10.0, interval=0.02, message="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture
def settings(redis_server):
    return redis_server.settings(prefix=f"test-{uuid.uuid4().hex[:8]}")  # the service user, as a replica logs in


@pytest.fixture
def store(settings, redis_server):
    client = settings.client()
    yield WeightStore(client, prefix=settings.prefix)
    client.close()


@pytest.fixture
def make_app(settings, tmp_path):
    apps = []

    def factory(**overrides):
        values = dict(redis=settings, poll_interval=0.2, cache_dir=tmp_path / f"models-{len(apps)}", replica_name="test-replica")
        values.update(overrides)
        app = create_app(InferenceConfig(**values))
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["model_watcher"].stop()


@pytest.fixture
def bundle():
    return make_bundle()


@pytest.fixture
def ready_app(make_app, store, bundle):
    app_version = store.publish(bundle.to_arrays(), {"metrics": {}})
    app = make_app()
    app.config["TEST_FIRST_VERSION"] = app_version
    wait_until(lambda: app.extensions["model_holder"].model is not None, message="first model load")
    return app
