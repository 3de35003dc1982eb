"""Hot swaps, refused versions and Redis outages, as one worker's app sees them (watcher, loader,
manager and routes together, on a real Redis)."""

import threading
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.weightcache import WeightStore
from harness.bundles import make_bundle
from harness.redis_server import RedisServer
from harness.waiting import wait_until

FAILURES = "recsys_model_load_failures_total"


def serving(app):
    return app.extensions["model_holder"].version


def scraped(client, name, **labels):
    """One sample's value as GET /metrics shows it (0 when absent)."""
    for family in text_string_to_metric_families(client.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def test_hot_swap_while_requests_run_never_fails(ready_app, store, metric):
    client = ready_app.test_client()
    loads = metric("recsys_model_loads_total")
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
        wait_until(lambda: serving(ready_app) == second, 2.0, "the swap to the new version")
        wait_until(lambda: second in versions, 2.0, "an answer from the new version")
    finally:
        stop.set()
        worker.join()
    assert statuses and set(statuses) == {200}
    assert versions == {first, second}
    assert metric("recsys_model_loads_total") == loads + 1
    assert metric("recsys_model_version") == 2
    cache_dir = ready_app.config["INFERENCE"].cache_dir
    assert (cache_dir / second).is_dir() and not (cache_dir / first).exists()  # the old files went after the swap


def corrupt_chunk(client, prefix, version):
    key = next(k for k in client.scan_iter(match=f"{prefix}:v:{version}:a:item_vectors:*"))
    data = bytearray(client.get(key))
    data[0] ^= 0xFF
    client.set(key, bytes(data))


def test_corrupted_version_is_refused_and_counted(ready_app, store, settings, metric):
    client = ready_app.test_client()
    before, scraped_before = metric(FAILURES, reason="integrity"), scraped(client, FAILURES, reason="integrity")
    version = store.publish(make_bundle(seed=2).to_arrays(), make_current=False)
    corrupt_chunk(store.client, settings.prefix, version)
    store.set_current(version)
    wait_until(lambda: metric(FAILURES, reason="integrity") == before + 1, 3.0, "the failed load to be counted")
    first = ready_app.config["TEST_FIRST_VERSION"]
    assert serving(ready_app) == first
    assert client.get("/recommend/1").headers["X-Model-Version"] == first
    assert client.get("/readyz").status_code == 200
    assert scraped(client, FAILURES, reason="integrity") == scraped_before + 1
    assert version in ready_app.extensions["model_manager"].refused
    time.sleep(0.5)  # more than two looks at the pointer: a refused version is not fetched again
    assert metric(FAILURES, reason="integrity") == before + 1


@pytest.mark.parametrize(
    "breakage",
    [
        "ids_do_not_match",     # top-k lists point past the catalog
        "wrong_shape",          # item vectors of another dimension than the feature vectors
        "nan_vectors",
    ],
)
def test_invalid_models_are_refused(ready_app, store, breakage, metric):
    arrays = make_bundle(seed=3).to_arrays()
    if breakage == "ids_do_not_match":
        arrays["known_topk"] = arrays["known_topk"] + 1000
    elif breakage == "wrong_shape":
        arrays["feature_vectors"] = np.zeros((arrays["feature_vectors"].shape[0], 3), np.float32)
    else:
        arrays["item_vectors"] = np.full_like(arrays["item_vectors"], np.nan)
    before = metric(FAILURES, reason="invalid")
    version = store.publish(arrays)
    wait_until(lambda: metric(FAILURES, reason="invalid") == before + 1, 3.0, "the refused load to be counted")
    assert serving(ready_app) == ready_app.config["TEST_FIRST_VERSION"]
    assert version in ready_app.extensions["model_manager"].refused
    assert not (ready_app.config["INFERENCE"].cache_dir / version).exists()  # refused before it reached the disk


def test_redis_outage_keeps_serving_and_reconnects(make_app, tmp_path):
    server = RedisServer(tmp_path / "own-redis").start()
    settings = server.settings(prefix="test-outage")
    try:
        first = WeightStore(settings.client(), prefix=settings.prefix).publish(make_bundle().to_arrays())
        app = make_app(redis=settings, poll_interval=0.2)
        wait_until(lambda: serving(app) == first, 10.0, "the first load")
        client = app.test_client()
        server.stop()
        for user_id in range(1, 300, 7):  # known, table and unknown users while Redis is gone
            response = client.get(f"/recommend/{user_id}")
            assert response.status_code == 200 and response.headers["X-Model-Version"] == first
        assert client.get("/recommend/123456789").status_code == 200
        assert client.get("/readyz").status_code == 200
        server.start()  # same port, empty: its counter starts again at 1
        second = WeightStore(settings.client(), prefix=settings.prefix).publish(make_bundle(seed=5).to_arrays())
        assert second.split("-")[0] == first.split("-")[0] == "v1" and second != first
        wait_until(lambda: serving(app) == second, 5.0, "the new publish after the restart")
        expected = ",".join(make_bundle(seed=5).movie_ids[make_bundle(seed=5).known_topk[0]])
        assert client.get("/recommend/1").get_data(as_text=True) == expected
    finally:
        server.stop()
