"""Faults while a request loop runs through nginx (issue #6 §1), on the stack `make up` runs.

The stack is `make up`'s (harness.stack.SupervisedStack: supervisord supervising redis with its
ACL users, the trainer service that trains the `small` preset and publishes it, three gunicorn
replicas and nginx), in a run dir of its own on free ports. A request loop (one client, back to
back, 800 ms timeout) runs during every fault; its counts are printed; a request fails unless it
is a valid answer in time, and every loop must see a minimum number of requests. The trainer CLI
is run as an operator would beside `make up`: with no settings but the run directory (stack.env).
After every test, every program must still be RUNNING.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import requests

from common.bundle import ModelBundle
from common.weightcache import WeightStore
from harness.loop import RequestLoop
from harness.stack import SupervisedStack
from harness.user_api import FakeUserAPI

TRAINER = str(Path(sys.executable).parent / "trainer")
pytestmark = pytest.mark.slow

KNOWN = list(range(1, 60))
UNKNOWN = [50_000_001, 50_000_002, 50_000_003]  # not in the model: the user API is asked (then cached)


def run_trainer(*args, env):
    result = subprocess.run([TRAINER, *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, f"trainer {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def user_api():
    with FakeUserAPI(users={uid: {"user_id": uid, "age": 30, "occupation": "writer", "gender": "F"} for uid in UNKNOWN}) as api:
        yield api


@pytest.fixture(scope="module")
def stack(tmp_path_factory, user_api):
    stack = SupervisedStack(tmp_path_factory.mktemp("supervised"), replicas=3,
                            extra_env={"USER_API_URL": user_api.url, "USER_API_TIMEOUT": "0.15"})
    try:
        yield stack.up()
    finally:
        stack.down()


@pytest.fixture(autouse=True)
def survived(stack):
    """Nothing a test did crashed a program for good: afterwards redis, every replica and nginx are
    RUNNING and nginx answers."""
    yield
    status = stack.ctl("status")
    assert all("RUNNING" in line for line in status.splitlines() if not line.startswith("trainer")), status
    assert requests.get(f"{stack.url}/recommend/1", timeout=2).status_code == 200


def store(stack) -> WeightStore:
    return WeightStore(stack.admin(), prefix="recsys")


def wait_served_by_all(loop: RequestLoop, names: set[str], timeout: float) -> bool:
    """Whether, within `timeout`, 100 requests in a row were answered by all of `names`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        loop.wait_for(100)
        if names <= {o.served_by for o in loop.outcomes[-100:]}:
            return True
    return False


def test_kill_9_of_one_of_three_replicas_fails_nothing_and_supervisord_restarts_it(stack):
    names = {f"inference-{n}" for n in (1, 2, 3)}
    victim_pid = stack.pid("inference-2")
    with RequestLoop(stack.url, KNOWN) as loop:
        assert wait_served_by_all(loop, names, timeout=20), "not all three replicas answer before the kill"
        os.kill(victim_pid, signal.SIGKILL)
        killed_at = time.monotonic()
        deadline = killed_at + 60
        while time.monotonic() < deadline:
            pid = stack.ctl("pid", "inference-2")
            if pid.isdigit() and int(pid) != victim_pid and stack.readyz(2)[0] == 200:
                break
            time.sleep(0.2)
        restarted_after = time.monotonic() - killed_at
        # nginx takes a failed replica back after fail_timeout (2 s): wait for its answers.
        rejoined = wait_served_by_all(loop, names, timeout=20)
        rejoined_after = time.monotonic() - killed_at
    status = stack.ctl("status", "inference-2")
    print(f"kill -9 inference-2 (pid {victim_pid}): {loop.summary()}; restarted by supervisord and ready "
          f"{restarted_after:.1f} s later ({status}); answers from all three again after {rejoined_after:.1f} s: {rejoined}")
    loop.check(min_requests=200)
    assert "RUNNING" in status and stack.pid("inference-2") != victim_pid
    assert rejoined


def test_redis_down_for_30_s_fails_nothing_and_the_next_publish_is_picked_up(stack):
    current = store(stack).current_version()
    readyz_seen = []
    with RequestLoop(stack.url, KNOWN + UNKNOWN) as loop:
        loop.wait_for(50)
        stack.ctl("stop", "redis")
        try:
            assert "STOPPED" in stack.ctl("status", "redis")
            down_until = time.monotonic() + 30
            while time.monotonic() < down_until:
                readyz_seen.extend(stack.readyz(n) for n in (1, 2, 3))
                time.sleep(0.5)
            during = len(loop.outcomes)
        finally:
            stack.ctl("start", "redis")
        run_trainer("publish", "--model-dir", str(stack.model_dir), "--force", env=stack.tool_env())
        new = store(stack).current_version()
        assert new != current
        stack.wait_ready(version=new, timeout=30)
        loop.wait_for(50)
    print(f"redis stopped 30 s: {loop.summary()} ({during} while it was down); /readyz polled {len(readyz_seen)} "
          f"times: {sorted(set(readyz_seen))}; after restart every replica on {new}")
    loop.check(min_requests=1000)
    assert during >= 500, f"only {during} requests while Redis was down"
    assert set(readyz_seen) == {(200, current)}
    assert {o.version for o in loop.outcomes[-30:]} == {new}


def big_bundle_dir(path: Path, like: ModelBundle, n_users: int = 3_000_000) -> Path:
    """A saved model whose publish takes long enough to be killed in the middle (~250 MB)."""
    from trainer import artifacts

    arrays = like.to_arrays()
    arrays["known_user_ids"] = np.arange(1, n_users + 1, dtype=np.int64)
    arrays["known_topk"] = np.random.default_rng(0).integers(0, like.n_items, size=(n_users, like.known_topk.shape[1]),
                                                             dtype=np.int32)
    return artifacts.save(path, ModelBundle.from_arrays(arrays), {"report": {}})


def test_trainer_killed_in_the_middle_of_a_publish_leaves_current_and_the_next_run_cleans_up(stack, tmp_path):
    weights = store(stack)
    current = weights.current_version()
    _, arrays = weights.fetch(current)
    big = big_bundle_dir(tmp_path / "big", ModelBundle.from_arrays(arrays))
    with RequestLoop(stack.url, KNOWN) as loop:
        loop.wait_for(50)
        publisher = subprocess.Popen([TRAINER, "publish", "--model-dir", str(big), "--force"], env=stack.tool_env(),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        partial = []
        while time.monotonic() < deadline and publisher.poll() is None:
            partial = weights.pending_versions()
            if partial and any(weights.client.scan_iter(match=f"recsys:v:{partial[0]}:a:*", count=1000)):
                break
            time.sleep(0.005)
        publisher.send_signal(signal.SIGKILL)
        publisher.wait(10)
        assert publisher.returncode == -signal.SIGKILL, "the publish finished before it could be killed"
        assert partial, "no partial version seen"
        assert weights.current_version() == current
        time.sleep(2)  # replicas poll every second: none may move
        assert [stack.readyz(n) for n in (1, 2, 3)] == [(200, current)] * 3
        run_trainer("publish", "--model-dir", str(stack.model_dir), "--force", env=stack.tool_env())
        new = weights.current_version()
        stack.wait_ready(version=new, timeout=30)
        loop.wait_for(30)
    leftovers = list(weights.client.scan_iter(match=f"recsys:v:{partial[0]}:*", count=1000))
    print(f"publisher killed mid-publish of {partial[0]}: {loop.summary()}; current stayed {current}; next publish "
          f"{new} cleaned {partial[0]} ({len(leftovers)} keys left)")
    loop.check(min_requests=80)
    assert partial[0] not in weights.pending_versions() and not leftovers


def corrupt(weights: WeightStore, good: str, kind: str) -> str:
    """Publish a broken copy of `good` (not current) and return its version."""
    _, arrays = weights.fetch(good)
    if kind == "wrong shapes":
        arrays["item_vectors"] = np.ascontiguousarray(arrays["item_vectors"][:, :-1])
    elif kind == "ids that do not match":
        arrays["known_topk"] = arrays["known_topk"].copy()
        arrays["known_topk"][0, 0] = len(arrays["movie_ids"]) + 5  # a movie that does not exist
    version = weights.publish(arrays, make_current=False)
    chunk = next(weights.client.scan_iter(match=f"recsys:v:{version}:a:item_vectors:*"))
    if kind == "bad checksum":
        weights.client.setrange(chunk, 10, b"\xff\xff\xff\xff")
    elif kind == "truncated chunk":
        weights.client.set(chunk, weights.client.get(chunk)[:-7])
    return version


@pytest.mark.parametrize("kind,reason", [("bad checksum", "integrity"), ("truncated chunk", "integrity"),
                                         ("wrong shapes", "invalid"), ("ids that do not match", "invalid")])
def test_a_broken_version_is_refused_by_every_replica_visibly(stack, kind, reason):
    weights = store(stack)
    good = weights.current_version()
    metric = f'recsys_model_load_failures_total{{reason="{reason}"}}'

    def failures(n: int) -> float:
        line = next((ln for ln in stack.metrics(n).splitlines() if ln.startswith(metric)), f"{metric} 0")
        return float(line.split()[-1])

    before = [failures(n) for n in (1, 2, 3)]
    logs_before = [len(stack.log(f"inference-{n}")) for n in (1, 2, 3)]
    with RequestLoop(stack.url, KNOWN) as loop:
        loop.wait_for(30)
        bad = corrupt(weights, good, kind)
        try:
            weights.set_current(bad)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not all(failures(n) > before[n - 1] for n in (1, 2, 3)):
                time.sleep(0.1)
            counted = [failures(n) - before[n - 1] for n in (1, 2, 3)]
            states = [stack.readyz(n) for n in (1, 2, 3)]
            loop.wait_for(50)
        finally:
            weights.set_current(good)
    logged = [f"version {bad} refused" in stack.log(f"inference-{n}")[logs_before[n - 1]:] for n in (1, 2, 3)]
    print(f"{kind}: {loop.summary()}; {metric} +{counted}; logged by {sum(logged)} of 3; readyz {states}")
    loop.check(min_requests=80)
    assert all(c >= 1 for c in counted)
    assert states == [(200, good)] * 3
    assert all(logged)
    assert {o.version for o in loop.outcomes} == {good}


@pytest.mark.parametrize("mode", ["hang", "garbage"])
def test_user_api_hanging_or_garbage_answers_within_300ms(stack, user_api, mode):
    user_ids = list(range(60_000_000 + 1000 * len(mode), 60_000_000 + 1000 * len(mode) + 40))  # never cached
    user_api.mode = mode
    try:
        with RequestLoop(stack.url, user_ids) as loop:
            loop.wait_for(100)
    finally:
        user_api.mode = "ok"
    slowest = max(o.seconds for o in loop.outcomes)
    print(f"user API {mode}: {loop.summary()}; slowest {slowest * 1000:.0f} ms")
    loop.check(min_requests=100)
    assert slowest < 0.3


def test_the_trainer_cli_beside_the_stack_needs_no_settings(stack):
    """As an operator types it after `make up`: `trainer status` and `trainer rollback` with no
    REDIS_* settings at all (only which run directory, as `.run` is found by default)."""
    weights = store(stack)
    before = weights.current_version()
    # Two good versions of our own on top of whatever other tests left (broken versions too).
    run_trainer("publish", "--model-dir", str(stack.model_dir), "--force", env=stack.tool_env())
    published = run_trainer("publish", "--model-dir", str(stack.model_dir), "--force", env=stack.tool_env())
    current = weights.current_version()
    assert current != before and published.stdout.strip() == f"published {current}"
    stack.wait_ready(version=current, timeout=30)
    status = run_trainer("status", env=stack.tool_env())
    assert f"current version {current}" in status.stdout
    previous = run_trainer("rollback", env=stack.tool_env()).stdout.split()[-1]
    try:
        assert previous != current and weights.current_version() == previous
        stack.wait_ready(version=previous, timeout=30)
    finally:
        run_trainer("rollback", "--to", current, env=stack.tool_env())
    stack.wait_ready(version=current, timeout=30)
