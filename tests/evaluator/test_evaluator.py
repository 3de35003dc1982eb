"""The evaluator as a process on a real Kafka-protocol broker (tansu): it joins served records with
the stream, exports its figures, and after a kill -9 continues from its committed state so that a
full replay counts exactly what a run without the kill counted.

The stream is produced here, playing the replicas (served records, common/served.py) and the
course's simulator (event lines), so that every count is known in advance.
"""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from common import served
from harness.stack import Stack
from harness.waiting import http_get, wait_until

pytestmark = pytest.mark.slow
T0 = 1_700_000_000.0
TOPIC, SERVED_TOPIC = "movielog1", "recsys-served"
EXTRA: dict = {}


def java_time(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


def stream(sessions: int, seed: int = 3) -> tuple[list[tuple[int, bytes]], list[bytes], dict]:
    """(event lines keyed by user, served-record batches, the hits per version it holds)."""
    rng = random.Random(seed)
    movies = [f"movie+{n}+1999" for n in range(300)]
    lines, records, hits = [], [], {"v1": 0, "v2": 0}
    for i in range(sessions):
        t, user = T0 + i * 2.0, (i * 7919) % 5000 + 1   # a user comes back after 5000 sessions (10,000 s)
        version = "v1" if user % 2 else "v2"
        listed = rng.sample(movies, 20)
        records.append(served.Served(time.time(), f"r{i}", user, version, "known", listed, "test"))
        lines.append((user, f"{java_time(t)},{user},recommendation request h:8082, status 200, result: "
                            f"{', '.join(listed)}, 12 ms".encode()))
        if rng.random() < (0.7 if version == "v1" else 0.4):
            hits[version] += 1
            movie = listed[rng.randrange(20)]
            for minute in range(1, rng.randrange(2, 12)):
                lines.append((user, f"{java_time(t + 30 + 60 * minute)[:19]},{user},GET /data/m/{movie}/{minute}.mpg".encode()))
            if rng.random() < 0.3:
                lines.append((user, f"{java_time(t + 900)[:19]},{user},GET /rate/{movie}={rng.randrange(1, 6)}".encode()))
    lines.sort(key=lambda item: item[1].split(b",", 1)[0][:19])   # in event time, as the simulator sends
    batches = [served.encode(records[i:i + 500]) for i in range(0, len(records), 500)]
    return lines, batches, hits


def produce(bootstrap: str, lines, batches) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
    for batch in batches:   # the replicas record an answer before the simulator logs it
        producer.produce(SERVED_TOPIC, batch)
    producer.flush(30)
    for user, line in lines:
        producer.produce(TOPIC, line, key=str(user).encode())
        producer.poll(0)
    assert producer.flush(60) == 0


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("broker"), kinds=("broker",)).start()
    lines, batches, hits = stream(6000)
    produce(stack.settings.bootstrap, lines, batches)
    yield stack.settings.bootstrap, len(lines), hits
    stack.close()


def evaluator(workdir: Path, bootstrap: str) -> Stack:
    return Stack(workdir, kinds=("evaluator",), kafka=bootstrap,
                 extra_env={"ONLINE_COMMIT_SECONDS": "0.3", "ONLINE_JOIN_SLACK": "1", **EXTRA}).start()


def state_file(stack: Stack) -> Path:
    return stack.settings.data_dir / "online" / "state.json"


def applied(stack: Stack) -> int:
    """Event lines the last committed state holds."""
    try:
        state = json.loads(state_file(stack).read_text())
    except (FileNotFoundError, ValueError):
        return 0
    return sum(state["tally"]["counts"].get(k, 0) for k in ("watch", "rate", "recommendation", "account"))


def counted(stack: Stack) -> dict:
    return json.loads(state_file(stack).read_text())["tally"]["buckets"]


def test_the_figures_per_version_match_the_stream_and_reach_metrics(broker, tmp_path):
    bootstrap, total, hits = broker
    stack = evaluator(tmp_path / "one", bootstrap)
    try:
        wait_until(lambda: applied(stack) == total, 90, f"all {total} lines applied")
        status, body, _ = http_get(f"http://127.0.0.1:{stack.settings.online_metrics_port}/metrics")
        assert status == 200
        for version, n in hits.items():
            assert f'online_hits_total{{version="{version}"}} {float(n)}' in body
            assert f'online_answers_total{{version="{version}"}}' in body
        assert "online_unattributed_answers_total 0.0" in body
        assert 'online_hit_rate{version="v1",window="life"}' in body
    finally:
        stack.close()


def test_after_kill_9_a_replay_counts_exactly_what_a_run_without_it_counted(broker, tmp_path):
    bootstrap, total, _ = broker
    straight = evaluator(tmp_path / "straight", bootstrap)
    try:
        wait_until(lambda: applied(straight) == total, 90, "the run without a kill applied everything")
        expected = counted(straight)
    finally:
        straight.close()
    killed = evaluator(tmp_path / "killed", bootstrap)
    try:
        process = killed.processes["evaluator"]
        for _ in range(2):   # twice, mid-way through
            wait_until(lambda: 0 < applied(killed) < total, 60, "a commit mid-way", interval=0.05)
            process.kill(signal.SIGKILL)
            process.start()
        wait_until(lambda: applied(killed) == total, 90, "the killed run applied everything")
        assert counted(killed) == expected
    finally:
        killed.close()
