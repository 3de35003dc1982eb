"""Ingest benchmark (`make bench-ingest`): how fast events get from the topic into the trainer's
files, through the stack description's own broker (tansu) and ingester on loopback.

    .venv/bin/python -m loadtests.ingest_bench [--rates 1000,2000,5000,10000] [--seconds 20]

For each rate, a producer in this process sends valid watch lines at that fixed rate (paced every
10 ms) for --seconds; this process watches the event files and notes when each line appears.
Lag = appeared in a file - handed to the producer; per rate: p50 / p99 / max lag and whether it
kept up (p99 <= 5 s and every line on disk within 10 s of the end). The highest rate that kept
up is the sustained rate. Writes loadtests/results/ingest-bench.json (--json). The producer, the
broker and the ingester share this machine's cores: report, not a test.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from confluent_kafka import Producer

from harness.stack import Stack

P99_LIMIT = 5.0
DRAIN_LIMIT = 10.0


def line(seq: int, rate_index: int) -> bytes:
    # A valid watch line whose user id carries (rate, sequence): unique, and found again cheaply.
    return f"2023-10-31T10:{seq // 60 % 60:02d}:{seq % 60:02d},{rate_index}{seq:09d},GET /data/m/the+bench+2024/1.mpg".encode()


class FileWatcher:
    """New lines in the event files since the last look, with when they were first seen."""

    def __init__(self, events: Path):
        self.events, self.sizes, self.seen = events, {}, {}

    def look(self) -> None:
        now = time.monotonic()
        for path in sorted(self.events.glob("movielog1-*.log")):
            size = path.stat().st_size
            if size == self.sizes.get(path.name, 0):
                continue
            with open(path, "rb") as handle:
                handle.seek(self.sizes.get(path.name, 0))
                data = handle.read()
            self.sizes[path.name] = size
            for raw in data.splitlines():
                user = raw.split(b",", 2)[1]
                self.seen.setdefault(int(user), now)


def run_rate(producer: Producer, watcher: FileWatcher, rate: int, rate_index: int, seconds: float) -> dict:
    sent: dict[int, float] = {}
    started = time.monotonic()
    total = int(rate * seconds)
    seq = 0
    while seq < total:
        due = int((time.monotonic() - started) * rate)
        while seq < min(due, total):
            producer.produce("movielog1", line(seq, rate_index), key=str(seq % 97).encode())
            sent[int(f"{rate_index}{seq:09d}")] = time.monotonic()
            seq += 1
        producer.poll(0)
        watcher.look()
        time.sleep(0.01)
    producer.flush(30)
    end = time.monotonic()
    while time.monotonic() - end < DRAIN_LIMIT + 5 and not all(k in watcher.seen for k in sent):
        watcher.look()
        time.sleep(0.05)
    lags = np.array([watcher.seen[k] - t for k, t in sent.items() if k in watcher.seen])
    missing = len(sent) - len(lags)
    drained = max((watcher.seen.get(k, np.inf) for k in sent), default=end) - end
    p99 = float(np.percentile(lags, 99)) if len(lags) else float("inf")
    return {"rate": rate, "lines": len(sent), "achieved_rate": round(len(sent) / (end - started), 1),
            "lag_p50_s": round(float(np.percentile(lags, 50)), 3) if len(lags) else None,
            "lag_p99_s": round(p99, 3), "lag_max_s": round(float(lags.max()), 3) if len(lags) else None,
            "missing": missing, "drained_after_s": round(float(drained), 2),
            "kept_up": missing == 0 and p99 <= P99_LIMIT and drained <= DRAIN_LIMIT}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="1000,2000,5000,10000", help="events per second, comma separated")
    parser.add_argument("--seconds", type=float, default=20.0, help="seconds per rate")
    parser.add_argument("--json", default="loadtests/results/ingest-bench.json")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as workdir:
        stack = Stack(Path(workdir), replicas=1, kinds=("broker", "ingest"),
                      extra_env={"INGEST_BATCH_SECONDS": "0.5", "INGEST_COMPACT_SECONDS": "1e9"})
        try:
            stack.start()
            producer = Producer({"bootstrap.servers": stack.settings.bootstrap, "linger.ms": 5,
                                 "queue.buffering.max.messages": 2_000_000})
            watcher = FileWatcher(stack.settings.data_dir / "events")
            results = []
            for index, rate in enumerate(rates, start=1):
                result = run_rate(producer, watcher, rate, index, args.seconds)
                results.append(result)
                print(f"{rate:>6}/s for {args.seconds:g} s: achieved {result['achieved_rate']:>8}/s, lag p50 "
                      f"{result['lag_p50_s']} s, p99 {result['lag_p99_s']} s, max {result['lag_max_s']} s, "
                      f"missing {result['missing']}, kept up: {result['kept_up']}", flush=True)
        finally:
            stack.close()
    sustained = max((r["rate"] for r in results if r["kept_up"]), default=0)
    report = {"seconds_per_rate": args.seconds, "results": results, "sustained_rate": sustained,
              "p99_limit_s": P99_LIMIT, "at_course_rate": next((r for r in results if r["rate"] == 1000), None)}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"highest sustained rate: {sustained}/s (p99 lag <= {P99_LIMIT:g} s); written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
