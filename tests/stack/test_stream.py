"""The event stream end to end on real processes (started from the stack description): the
simulator plays users through nginx and produces every event to a Kafka-protocol broker (tansu);
the ingester writes them into the trainer's event files. Faults: the ingester killed with
kill -9 three times, the broker stopped for 30 s.

The simulator's sent log says which lines it sent intact and which it corrupted on purpose: the
files must hold exactly the intact ones (none twice, none missing) and the quarantine exactly as
many lines as it corrupted.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from harness.loop import RequestLoop
from harness.paths import VENV_BIN
from harness.stack import Stack, clean_environment
from harness.waiting import http_get, wait_until
from simulator.sink import sent_lines

TRAINER = str(Path(sys.executable).parent / "trainer")
pytestmark = pytest.mark.slow


def run(*argv, env=None, timeout=300):
    result = subprocess.run([*argv], capture_output=True, text=True, env=env, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(argv)} failed:\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("day0")
    run(TRAINER, "generate-data", "--preset", "small", "--out", str(root / "data"))
    run(TRAINER, "train", "--data-dir", str(root / "data"), "--model-dir", str(root / "model"))
    return root / "model"


@pytest.fixture
def stack(model_dir, tmp_path):
    stack = Stack(tmp_path / "stack", replicas=2, kinds=("redis", "broker", "ingest", "inference", "nginx"),
                  extra_env={"INGEST_BATCH_SECONDS": "0.5"})
    try:
        stack.start()
        run(TRAINER, "publish", "--model-dir", str(model_dir), env=stack.env())
        stack.wait_ready(timeout=60)
        yield stack
    finally:
        stack.close()


def simulator(stack: Stack, workdir: Path, seconds: float, **settings) -> subprocess.Popen:
    env = clean_environment(**stack.settings.service_env(), SIM_DURATION=str(seconds), SIM_RATE="20",
                            SIM_SPEED="120", SIM_BAD_SHARE="0.01", SIM_SENT_LOG=str(workdir / "sent.log"),
                            SIM_TRUTH_JSON=str(workdir / "truth.json"), **settings)
    return subprocess.Popen([str(VENV_BIN / "simulator")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def finish(process: subprocess.Popen, workdir: Path) -> dict:
    out, _ = process.communicate(timeout=180)
    assert process.returncode == 0, out[-3000:]
    print(out[-1500:])
    return json.loads((workdir / "truth.json").read_text())


def file_lines(directory: Path) -> list[str]:
    return [line for f in sorted(directory.glob("movielog1-*.log")) for line in f.read_text().splitlines()]


def ingested(stack: Stack) -> tuple[list[str], list[str]]:
    events = stack.settings.data_dir / "events"
    return file_lines(events), file_lines(events.parent / "quarantine")


def wait_all_ingested(stack: Stack, expected: int, timeout: float = 60) -> None:
    wait_until(lambda: sum(map(len, ingested(stack))) >= expected, timeout,
               f"the ingester writing all {expected} lines ({sum(map(len, ingested(stack)))} so far)", interval=0.5)


def test_ingester_killed_three_times_loses_and_repeats_nothing(stack, tmp_path):
    process = simulator(stack, tmp_path, seconds=40)
    ingest = stack.processes["ingest"]
    kills = 0
    try:
        for _ in range(3):
            time.sleep(8)
            ingest.kill()
            kills += 1
            time.sleep(1)
            ingest.start()
    finally:
        truth = finish(process, tmp_path)
    valid, corrupted = sent_lines(tmp_path / "sent.log")
    wait_all_ingested(stack, len(valid) + len(corrupted))
    events, quarantine = ingested(stack)
    twice = [line for line, n in Counter(events).items() if n > 1]
    print(f"{kills} kills: {len(valid)} valid and {len(corrupted)} corrupted lines sent; files hold {len(events)} "
          f"events, quarantine {len(quarantine)}; {len(twice)} repeated")
    assert kills == 3 and len(valid) > 2000
    assert Counter(events) == Counter(valid), "the files hold exactly the valid lines sent"
    assert len(quarantine) == len(corrupted) == truth["corrupted_total"] > 0
    assert sorted(q.split("\t", 1)[1] for q in quarantine) == sorted(line for _, line in corrupted)
    assert sum(v["failed"] + v["late"] for v in truth["versions"].values()) == 0


def test_broker_stopped_for_30_s_fails_no_request_and_everything_reconnects(stack, tmp_path):
    process = simulator(stack, tmp_path, seconds=60)
    broker = stack.processes["broker"]
    try:
        with RequestLoop(stack.url, list(range(1, 300))) as loop:
            wait_until(lambda: ingested(stack)[0], 30, "the first events in the files", interval=0.5)
            time.sleep(5)
            broker.kill()
            stopped_at = time.monotonic()
            loop.wait_for(300, timeout=40)
            time.sleep(max(0.0, 30 - (time.monotonic() - stopped_at)))
            before = len(ingested(stack)[0])
            broker.start()
            wait_until(lambda: len(ingested(stack)[0]) > before + 100, 60,
                       "new events in the files after the broker came back", interval=0.5)
            caught_up = time.monotonic() - stopped_at - 30
            loop.wait_for(100, timeout=20)
    finally:
        truth = finish(process, tmp_path)
    metrics = http_get(f"http://127.0.0.1:{stack.settings.ingest_metrics_port}/metrics")[1]
    print(f"broker down 30 s: loop {loop.summary()}; events flowing again {caught_up:.1f} s after the restart; "
          f"simulator: {truth['versions']}; undelivered {truth['undelivered']}")
    loop.check(min_requests=1000)
    assert sum(v["failed"] + v["late"] for v in truth["versions"].values()) == 0
    assert sum(v["sessions"] for v in truth["versions"].values()) > 500
    assert "ingest_written_total" in metrics and stack.processes["ingest"].running()
