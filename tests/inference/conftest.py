"""An inference app (Flask test client) following a real redis-server, and metric readings.

Every prefix a test uses starts with `test-`: the service user may touch nothing else but `recsys`.
"""

from __future__ import annotations

import uuid

import pytest
from prometheus_client import REGISTRY

from common.weightcache import WeightStore
from harness.bundles import make_bundle
from harness.waiting import wait_until
from inference.app import create_app
from inference.config import InferenceConfig


def _sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def metric():
    """metric(name, **labels): the current value of one sample (0 before it first counts). The
    registry is shared by every app a test process makes: compare values, never presence."""
    return _sample


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
    for app in apps:  # stopped and joined: no watcher of this test loads or counts during the next one
        app.extensions["model_watcher"].stop()
        if "served_records" in app.extensions:
            app.extensions["served_records"].close(timeout=1)


@pytest.fixture
def bundle():
    return make_bundle()


@pytest.fixture
def ready_app(make_app, store, bundle):
    app_version = store.publish(bundle.to_arrays(), {"metrics": {}})
    app = make_app()
    app.config["TEST_FIRST_VERSION"] = app_version
    assert wait_until(lambda: app.extensions["model_holder"].version, 10.0, "the first model load") == app_version
    return app
