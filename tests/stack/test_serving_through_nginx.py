"""End to end on real processes: trainer CLI -> redis-server -> two gunicorn replicas -> nginx,
started from the stack description (harness/stack.py).

The model is trained by the real trainer on the `small` generated preset. The tests may run in any
order: the ones that break something (Redis, a replica, the current version) restore it in
`finally`, and each loop test asserts a minimum number of requests as well as zero failures.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from harness.answers import movie_ids
from harness.loop import RequestLoop
from harness.stack import Stack
from harness.waiting import wait_until

from common.bundle import TOP_K
from common.weightcache import WeightStore
from harness.user_api import FakeUserAPI

TRAINER = str(Path(sys.executable).parent / "trainer")
pytestmark = pytest.mark.slow


def run_trainer(*args, env=None):
    result = subprocess.run([TRAINER, *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, f"trainer {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("trained")
    run_trainer("generate-data", "--preset", "small", "--out", str(root / "data"))
    run_trainer("train", "--data-dir", str(root / "data"), "--model-dir", str(root / "model"))
    return root / "data", root / "model"


@pytest.fixture(scope="module")
def user_api():
    with FakeUserAPI(users={
        10_000_001: {"user_id": 10_000_001, "age": 23, "occupation": "college/grad student", "gender": "F"},
        10_000_002: {"user_id": 10_000_002, "age": 61, "occupation": "retired", "gender": "M"},
    }) as api:
        yield api


@pytest.fixture(scope="module")
def stack(trained, user_api, tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("stack"), replicas=2, extra_env={"USER_API_URL": user_api.url})
    try:
        stack.start()
        run_trainer("publish", "--model-dir", str(trained[1]), env=stack.env())
        stack.wait_ready()
        yield stack
    finally:
        stack.close()


@pytest.fixture(scope="module")
def model(trained):
    from trainer import artifacts

    return artifacts.load(trained[1]).bundle


@pytest.fixture(scope="module")
def seen(trained):
    from trainer.interactions import build_interactions
    from trainer.loaders.tables import load_simulator_dir

    raw = load_simulator_dir(trained[0])
    frame = build_interactions(raw.watches, raw.ratings).frame
    return frame.groupby("user_id")["movie_id"].agg(set).to_dict()


def get_ids(stack, user_id):
    response = requests.get(f"{stack.url}/recommend/{user_id}", timeout=2)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/plain")
    return movie_ids(response.text)


def store_for(stack):
    return WeightStore(stack.admin(), prefix="recsys")


def test_known_users_get_valid_personal_lists_without_seen_movies(stack, model, seen):
    catalog = set(model.movie_ids.tolist())
    popular = model.movie_ids[model.popular[:TOP_K]].tolist()
    known = model.known_user_ids[:100].tolist()
    differing = 0
    for user_id in known:
        ids = get_ids(stack, user_id)
        assert len(ids) == TOP_K and set(ids) <= catalog
        assert not set(ids) & seen.get(user_id, set()), f"user {user_id} got a movie they watched"
        differing += ids != popular
    assert differing >= 0.9 * len(known), f"only {differing}/{len(known)} lists differ from popularity"


def test_cold_start_users_through_the_user_api_and_unknown_users(stack, model):
    popular = model.movie_ids[model.popular[:TOP_K]].tolist()
    young, old = get_ids(stack, 10_000_001), get_ids(stack, 10_000_002)
    assert len(young) == len(old) == TOP_K
    assert young != popular and young != old
    assert get_ids(stack, 999_999_999_999) == popular  # nobody knows this user


@pytest.mark.parametrize("raw", ["-3", "abc", "1234567890123", "1%2F2", "%00"])
def test_invalid_ids_get_a_400_with_a_reason(stack, raw):
    response = requests.get(f"{stack.url}/recommend/{raw}", timeout=2)
    assert response.status_code == 400
    assert "\n" not in response.text
    # nginx itself refuses a NUL byte in the URI, before any replica sees it.
    expected = "bad request" if raw == "%00" else "invalid user id"
    assert response.text.startswith(expected), response.text


def test_both_replicas_answer(stack):
    served = {requests.get(f"{stack.url}/recommend/{u}", timeout=2).headers.get("X-Served-By") for u in range(40)}
    assert served == {"inference-1", "inference-2"}


def test_hot_swap_under_load_has_no_failed_request(stack, trained, model):
    before = store_for(stack).current_version()
    with RequestLoop(stack.url, model.known_user_ids[:50].tolist() + [10_000_001, 5]) as loop:
        loop.wait_for(50)
        published_at = time.monotonic()
        run_trainer("publish", "--model-dir", str(trained[1]), "--force", env=stack.env())
        pointer_moved = time.monotonic()  # the pointer moves at the very end of the publish command
        new = store_for(stack).current_version()
        assert new != before
        stack.wait_ready(version=new, timeout=2.0)
        swapped_after = time.monotonic() - pointer_moved
        loop.wait_for(50)
    print(f"hot swap: {loop.summary()}; all replicas on {new} {swapped_after:.2f} s after the publish command returned "
          f"({pointer_moved - published_at:.2f} s for the command)")
    loop.check(min_requests=100)
    assert {o.version for o in loop.outcomes} == {before, new}


def test_corrupted_version_is_refused_by_every_replica(stack):
    store = store_for(stack)
    good = store.current_version()
    _, arrays = store.fetch(good)
    bad = store.publish(arrays, make_current=False)
    key = next(k for k in store.client.scan_iter(match=f"recsys:v:{bad}:a:item_vectors:*"))
    store.client.setrange(key, 10, b"\xff\xff\xff\xff")
    before = [integrity_failures(r) for r in stack.replicas]
    try:
        store.set_current(bad)
        deadline = time.monotonic() + 5
        counted = []
        while time.monotonic() < deadline:
            counted = [integrity_failures(r) - b for r, b in zip(stack.replicas, before)]
            if all(c >= 1 for c in counted):
                break
            time.sleep(0.1)
        assert all(c >= 1 for c in counted), f"every replica counts the failed load in /metrics: {counted}"
        assert [r.readyz() for r in stack.replicas] == [(200, good)] * len(stack.replicas)
        assert requests.get(f"{stack.url}/recommend/1", timeout=2).headers["X-Model-Version"] == good
    finally:
        store.set_current(good)


def integrity_failures(replica) -> float:
    """recsys_model_load_failures_total{reason="integrity"} of one replica (0 before the first)."""
    metric = 'recsys_model_load_failures_total{reason="integrity"}'
    text = requests.get(f"http://127.0.0.1:{replica.port}/metrics", timeout=1).text
    return next((float(line.split()[-1]) for line in text.splitlines() if line.startswith(metric)), 0.0)


@pytest.mark.parametrize("mode", ["slow", "hang"])
def test_slow_or_hanging_user_api_still_answers_within_300ms(stack, user_api, model, mode):
    user_api.mode = mode
    try:
        for user_id in range(20_000_000, 20_000_010):  # unknown to the model: the API is asked
            started = time.perf_counter()
            ids = get_ids(stack, user_id)
            elapsed = time.perf_counter() - started
            assert len(ids) == TOP_K
            assert elapsed < 0.3, f"{mode}: {elapsed * 1000:.0f} ms"
    finally:
        user_api.mode = "ok"
        # The replicas' circuit breakers opened on the failures: wait until they ask the API again.
        popular = model.movie_ids[model.popular[:TOP_K]].tolist()
        wait_until(lambda: all(get_ids(stack, u) != popular for u in (10_000_001, 10_000_002)), 30,
                   "the user API asked again after the breaker's pause", interval=0.5)


def test_user_api_down_still_answers_within_300ms(stack, model, trained, tmp_path):
    from harness.ports import free_port

    down = Stack(tmp_path / "down", replicas=1, extra_env={"USER_API_URL": f"http://127.0.0.1:{free_port()}"})
    try:
        down.start()
        run_trainer("publish", "--model-dir", str(trained[1]), env=down.env())
        down.wait_ready()
        for user_id in range(30_000_000, 30_000_010):
            started = time.perf_counter()
            assert len(get_ids(down, user_id)) == TOP_K
            assert time.perf_counter() - started < 0.3
    finally:
        down.close()


def test_redis_killed_during_load_then_restarted(stack, model, trained):
    current = store_for(stack).current_version()
    with RequestLoop(stack.url, model.known_user_ids[:50].tolist() + [10_000_001, 777_777_777]) as loop:
        loop.wait_for(30)
        stack.redis.kill()
        try:
            loop.wait_for(200)
            assert [r.readyz() for r in stack.replicas] == [(200, current)] * len(stack.replicas)
        finally:
            stack.redis.start()  # same port, same append-only file
        run_trainer("publish", "--model-dir", str(trained[1]), "--force", env=stack.env())
        new = store_for(stack).current_version()
        stack.wait_ready(version=new, timeout=10)
        loop.wait_for(30)
    print(f"redis outage: {loop.summary()}")
    loop.check(min_requests=260)


def test_killing_one_replica_during_load_fails_no_request(stack, model):
    victim = stack.replicas[0]
    try:
        with RequestLoop(stack.url, model.known_user_ids[:50].tolist()) as loop:
            loop.wait_for(50)
            victim.kill()
            loop.wait_for(300)
        print(f"replica killed: {loop.summary()}")
        loop.check(min_requests=350)
        served = {o.served_by for o in loop.outcomes[-100:]}
        assert served == {stack.replicas[1].name}
    finally:
        if not victim.running():
            victim.start()
        stack.wait_ready()
        # nginx takes a failed replica back only after fail_timeout (2 s): restored means both answer again.
        wait_until(lambda: {requests.get(f"{stack.url}/recommend/{u}", timeout=2).headers.get("X-Served-By")
                            for u in range(20)} == {r.name for r in stack.replicas}, 20,
                   "both replicas answering through nginx again", interval=0.5)


def test_ping_and_readyz_reach_a_replica_through_nginx(stack):
    ping = requests.get(f"{stack.url}/ping", timeout=2)
    assert ping.status_code == 200 and ping.text == "pong" and ping.headers["X-Served-By"].startswith("inference-")
    assert requests.get(f"{stack.url}/readyz", timeout=2).text == store_for(stack).current_version()
