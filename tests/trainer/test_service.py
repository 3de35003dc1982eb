"""`trainer serve` as a process: train once, reuse the saved model, retrain on new event files."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from common.weightcache import WeightStore
from harness.bundles import make_bundle
from harness.redis_server import RedisServer
from harness.waiting import wait_until

TRAINER = str(Path(sys.executable).parent / "trainer")


def start(env, log_path):
    log = open(log_path, "w")
    return subprocess.Popen([TRAINER, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)


def copied_data(small_data, redis_server, redis_client, tmp_path, prefix: str, **settings):
    """A copy of the small data set, and (env, store) for a `trainer serve` on it under `prefix`."""
    data = tmp_path / "data"
    shutil.copytree(small_data, data)
    env = dict(os.environ, **redis_server.env, WEIGHTS_PREFIX=prefix, DATA_DIR=str(data), DATA_PRESET="",
               MODEL_DIR=str(tmp_path / "model"), **settings)
    return data, env, WeightStore(redis_client, prefix=prefix)


def stop(process):
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def test_serve_trains_publishes_then_reuses_and_retrains(small_data, redis_server, redis_client, tmp_path):
    data, env, store = copied_data(small_data, redis_server, redis_client, tmp_path, "test-svc",
                                   TRAIN_EPOCHS="10")

    first = start(env, tmp_path / "first.log")
    try:
        wait_until(lambda: store.current_version() is not None, 120, "the first publish")
    finally:
        stop(first)
    published = store.current_version()
    assert "training on" in (tmp_path / "first.log").read_text()

    second = start(env, tmp_path / "second.log")
    try:
        wait_until(lambda: "reusing saved model" in (tmp_path / "second.log").read_text(), 60, "the saved model to be reused")
        time.sleep(1.0)
        assert store.versions() == [published]  # same model: nothing published again
    finally:
        stop(second)

    third = start(dict(env, RETRAIN_INTERVAL="0.5", FORCE_PUBLISH="1"), tmp_path / "third.log")
    try:
        # Up and serving the saved model first: a file added before it looks would be no *new* data.
        wait_until(lambda: "reusing saved model" in (tmp_path / "third.log").read_text(), 60, "the third start")
        shutil.copy(data / "events" / "events-0001.log", data / "events" / "events-0002.log")
        wait_until(lambda: store.current_version() != published, 120, "a retrained model after new event files")
    finally:
        stop(third)
    assert "new data" in (tmp_path / "third.log").read_text()


def test_serve_generates_missing_data_and_waits_for_redis(redis_server, redis_client, tmp_path):
    """No data yet and Redis not up at first: it generates the preset, trains, retries Redis, publishes."""
    late = RedisServer(tmp_path / "late-redis")
    env = dict(os.environ, **late.env, WEIGHTS_PREFIX="test-gen", DATA_DIR=str(tmp_path / "generated"), DATA_PRESET="small",
               MODEL_DIR=str(tmp_path / "model"), TRAIN_EPOCHS="5")
    process = start(env, tmp_path / "serve.log")
    try:
        wait_until(lambda: "unreachable" in (tmp_path / "serve.log").read_text(), 120, "a Redis retry message")
        late.start()
        wait_until(lambda: WeightStore(late.client(), prefix="test-gen").current_version() is not None, 60, "the publish")
        assert (tmp_path / "generated" / "events").is_dir()
    finally:
        stop(process)
        late.stop()


def test_serve_retrains_after_enough_new_events_and_not_before(small_data, redis_server, redis_client, tmp_path):
    """RETRAIN_MIN_EVENTS: a few new events change nothing; enough of them retrain at once
    (RETRAIN_INTERVAL is off), and the retrained model is published through the gate."""
    data, env, store = copied_data(small_data, redis_server, redis_client, tmp_path, "test-svc-min",
                                   TRAIN_EPOCHS="5", RETRAIN_MIN_EVENTS="5000", FORCE_PUBLISH="1")
    log = tmp_path / "serve.log"
    process = start(env, log)
    try:
        wait_until(lambda: store.current_version() is not None, 120, "the first publish")
        first = store.current_version()
        lines = (data / "events" / "events-0001.log").read_text().splitlines(keepends=True)
        (data / "events" / "few.log").write_text("".join(lines[:100]))
        time.sleep(7)  # more than one 5 s look: 100 events are not enough
        assert store.current_version() == first and "retraining" not in log.read_text()
        (data / "events" / "many.log").write_text("".join(lines[:6000]))
        wait_until(lambda: store.current_version() != first, 120, "a model retrained after 6,000 new events")
    finally:
        stop(process)
    text = log.read_text()
    assert "new events): retraining" in text and "retrained in" in text


def test_a_rollback_by_an_operator_stays_and_a_lost_version_is_published_again(small_data, redis_server, redis_client, tmp_path):
    data, env, store = copied_data(small_data, redis_server, redis_client, tmp_path, "test-svc-rb",
                                   TRAIN_EPOCHS="5")
    older = store.publish(make_bundle().to_arrays(), {"fingerprint": "someone-else"})
    process = start(env, tmp_path / "serve.log")
    try:
        wait_until(lambda: store.current_version() not in (None, older), 120, "the trainer's publish")
        ours = store.current_version()
        store.rollback(older)
        time.sleep(7)   # more than one 5 s look
        assert store.current_version() == older, "the trainer undid an operator's rollback"
        for key in redis_client.scan_iter(match=f"test-svc-rb:v:{ours}:*"):   # Redis lost our version
            redis_client.delete(key)
        redis_client.zrem("test-svc-rb:versions", ours)
        wait_until(lambda: store.current_version() not in (None, older), 30, "the lost model published again")
    finally:
        stop(process)
