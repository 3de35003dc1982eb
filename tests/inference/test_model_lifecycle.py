"""Hot swaps, refused versions and Redis outages, as one worker's watcher sees them."""

import threading
import time

import numpy as np
import pytest

from common.weightcache import WeightStore
from inference import metrics
from tests.inference.conftest import wait_until
from tests.support.bundles import make_bundle
from tests.support.processes import RedisServer


def serving(app):
    return app.extensions["model_holder"].version


def failures(reason):
    return metrics.MODEL_LOAD_FAILURES.labels(reason=reason)._value.get()


def test_hot_swap_while_requests_run_never_fails(ready_app, store):
    client = ready_app.test_client()
    statuses, versions, stop = [], set(), threading.Event()

    def loop():
        while not stop.is_set():
            response = client.get("/recommend/7")
            statuses.append(response.status_code)
            versions.add(response.headers.get("X-Model-Version"))
            # A client lives in another process; a loop that never leaves the GIL would starve
            # the watcher thread in a way no real client can (the stack tests use real clients).
            time.sleep(0.0005)

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        first = serving(ready_app)
        second = store.publish(make_bundle(seed=1).to_arrays())
        wait_until(lambda: serving(ready_app) == second, timeout=2.0, message="swap to the new version within 2 s")
        wait_until(lambda: second in versions, timeout=2.0, message="an answer from the new version")
    finally:
        stop.set()
        worker.join()
    assert statuses and set(statuses) == {200}
    assert versions == {first, second}


def corrupt_chunk(client, prefix, version):
    key = next(k for k in client.scan_iter(match=f"{prefix}:v:{version}:a:item_vectors:*"))
    data = bytearray(client.get(key))
    data[0] ^= 0xFF
    client.set(key, bytes(data))


def test_corrupted_version_is_refused_and_counted(ready_app, store, settings):
    before = failures("integrity")
    version = store.publish(make_bundle(seed=2).to_arrays(), make_current=False)
    corrupt_chunk(store.client, settings.prefix, version)
    store.set_current(version)
    wait_until(lambda: failures("integrity") == before + 1, timeout=3.0, message="the failed load to be counted")
    first = ready_app.config["TEST_FIRST_VERSION"]
    assert serving(ready_app) == first
    client = ready_app.test_client()
    assert client.get("/recommend/1").headers["X-Model-Version"] == first
    assert client.get("/readyz").status_code == 200
    assert 'recsys_model_load_failures_total{reason="integrity"}' in client.get("/metrics").get_data(as_text=True)


@pytest.mark.parametrize(
    "breakage",
    [
        "ids_do_not_match",     # top-k lists point past the catalog
        "wrong_shape",          # item vectors of another dimension than the feature vectors
        "nan_vectors",
    ],
)
def test_invalid_models_are_refused(ready_app, store, breakage):
    arrays = make_bundle(seed=3).to_arrays()
    if breakage == "ids_do_not_match":
        arrays["known_topk"] = arrays["known_topk"] + 1000
    elif breakage == "wrong_shape":
        arrays["feature_vectors"] = np.zeros((arrays["feature_vectors"].shape[0], 3), np.float32)
    else:
        arrays["item_vectors"] = np.full_like(arrays["item_vectors"], np.nan)
    before = failures("invalid")
    store.publish(arrays)
    wait_until(lambda: failures("invalid") == before + 1, timeout=3.0, message="the refused load to be counted")
    assert serving(ready_app) == ready_app.config["TEST_FIRST_VERSION"]


def test_redis_outage_keeps_serving_and_reconnects(make_app, tmp_path):
    server = RedisServer(tmp_path / "own-redis").start()
    settings = server.settings(prefix="outage")
    try:
        first = WeightStore(settings.client(), prefix="outage").publish(make_bundle().to_arrays())
        app = make_app(redis=settings, poll_interval=0.2)
        wait_until(lambda: serving(app) == first, message="first load")
        client = app.test_client()
        server.stop()
        for user_id in range(1, 300, 7):  # known, table and unknown users while Redis is gone
            response = client.get(f"/recommend/{user_id}")
            assert response.status_code == 200 and response.headers["X-Model-Version"] == first
        assert client.get("/recommend/123456789").status_code == 200
        assert client.get("/readyz").status_code == 200
        server.start()  # same port, empty: its counter starts again at 1
        second = WeightStore(settings.client(), prefix="outage").publish(make_bundle(seed=5).to_arrays())
        assert second.split("-")[0] == first.split("-")[0] == "v1" and second != first
        wait_until(lambda: serving(app) == second, timeout=5.0, message="the new publish after the restart")
        expected = ",".join(make_bundle(seed=5).movie_ids[make_bundle(seed=5).known_topk[0]])
        assert client.get("/recommend/1").get_data(as_text=True) == expected
    finally:
        server.stop()
