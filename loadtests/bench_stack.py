"""The benchmark's stack and its load generator.

`BenchStack`: harness.stack.Stack (redis, the replicas, nginx from the one stack description, on
free loopback ports) with nginx's per-client limits lifted, a model published and warmed up.
`run_locust`: one locust process (loadtests/bench_locustfile.py) running a plan of timed phases
against it; `phase_stats` turns one phase's raw record into the figures of the report.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import requests

from common.weightcache import WeightStore
from harness.nginx import traffic_limits
from harness.paths import ROOT, VENV_BIN
from harness.processes import process_tree
from harness.stack import Stack
from harness.waiting import http_get, wait_until
from loadtests.bench_config import Run

THREADS = 4  # gunicorn threads per worker (GUNICORN_THREADS), as `make up`
LOCUSTFILE = ROOT / "loadtests" / "bench_locustfile.py"


class BenchStack:
    """A Stack with a model published and warmed up; a context manager that stops it."""

    def __init__(self, workdir: Path, replicas: int, workers: int, bundle, kafka: str = ""):
        """`kafka`: a broker's bootstrap; the replicas then record every answer there (inference/records.py)."""
        # The benchmark measures capacity: one client (locust) must not be rate-limited by nginx.
        self.stack = Stack(workdir, replicas=replicas, workers=workers, extra_env={"GUNICORN_THREADS": str(THREADS)},
                           limits=traffic_limits({}, replicas=replicas, workers=workers, client_rate=1_000_000,
                                                 client_burst=1_000_000), kafka=kafka)
        self.bundle = bundle
        self.version: str | None = None

    def __enter__(self) -> "BenchStack":
        try:
            self.stack.start()
            self.version = self.publish(self.bundle.to_arrays())
            self.stack.wait_ready(self.version, timeout=60)
            wait_until(lambda: http_get(f"{self.url}/ping", timeout=1)[:2] == (200, "pong"), 15, "nginx proxies /ping")
            self._warm()
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stack.close()

    @property
    def url(self) -> str:
        return self.stack.url

    def store(self) -> WeightStore:
        """The weight store the replicas follow, as the admin (publishing)."""
        return WeightStore(self.stack.admin(), prefix=self.stack.settings.prefix)

    def publish(self, arrays: dict) -> str:
        return self.store().publish(arrays)

    def _warm(self) -> None:
        with requests.Session() as session:  # keep-alive: 400 requests in well under a second
            for user_id in range(1, 400):
                session.get(f"{self.url}/recommend/{user_id}", timeout=5)

    def pids(self) -> dict[str, list[int]]:
        groups = {"nginx": process_tree(self.stack.nginx.pid), "redis": [self.stack.redis.pid]}
        for replica in self.stack.replicas:
            groups[replica.name] = process_tree(replica.pid)
        return groups


def served_record_counts(replicas) -> dict[str, float]:
    """`recsys_served_records_total` by outcome, summed over the replicas' /metrics."""
    counts: dict[str, float] = {}
    for replica in replicas:
        _, body, _ = http_get(f"http://127.0.0.1:{replica.port}/metrics", timeout=5)
        for line in body.splitlines():
            if line.startswith("recsys_served_records_total{"):
                outcome = line.split('outcome="')[1].split('"')[0]
                counts[outcome] = counts.get(outcome, 0) + float(line.split()[-1])
    return counts


def run_locust(run: Run, stack: BenchStack, phases: list[dict], users: int, label: str, during=None) -> dict:
    """One locust process running `phases` against the stack; `during(started_info)` runs meanwhile."""
    workdir = run.workdir
    out = workdir / f"locust-{label}.json"
    log_path = workdir / f"locust-{label}.log"
    plan = {"out": str(out), "users": users, "warmup": run.profile.warmup, "phases": phases, "known": list(run.known),
            "unknown_share": run.unknown_share, "zipf_exponent": run.zipf_exponent, "catalog": run.catalog,
            "pids": stack.pids()}
    plan_path = workdir / f"plan-{label}.json"
    plan_path.write_text(json.dumps(plan))
    if not stack.url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"refusing to load anything but loopback: {stack.url}")
    cmd = [str(VENV_BIN / "locust"), "-f", str(LOCUSTFILE), "--headless", "--only-summary",
           "-u", str(users), "-r", str(users), "-H", stack.url, "--loglevel", "WARNING"]
    total = run.profile.warmup + sum(p["duration"] for p in phases) + 60
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, env=dict(os.environ, BENCH_PLAN=str(plan_path)), stdout=log,  # nosec B603  # the venv's locust, argv built here
                                stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            if during is not None:
                started = Path(f"{out}.started")
                try:
                    wait_until(started.exists, 60, "locust laying out its phases", proc=proc)
                except (TimeoutError, RuntimeError) as error:
                    raise RuntimeError(f"locust did not start ({error}): see {log_path}") from None
                during(json.loads(started.read_text()))
            code = proc.wait(timeout=total)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if code != 0 or not out.exists():
        raise RuntimeError(f"locust run {label} failed (exit {code}):\n{log_path.read_text()[-3000:]}")
    return json.loads(out.read_text())


def phase_stats(phase: dict) -> dict:
    service = np.asarray(phase["service_ms"], dtype=np.float64)
    scheduled = np.asarray(phase["scheduled_ms"], dtype=np.float64)
    failures = sum(phase["failures"].values())
    count = len(service)

    def pct(values, q):
        return round(float(np.percentile(values, q)), 3) if len(values) else None

    stats = {"requests": count, "ok": phase["ok"], "errors": failures, "failure_reasons": phase["failures"],
             "throughput_rps": round(count / phase["duration"], 1),
             "p50_ms": pct(service, 50), "p95_ms": pct(service, 95), "p99_ms": pct(service, 99),
             "max_ms": round(float(service.max()), 3) if count else None,
             "p99_from_schedule_ms": pct(scheduled, 99) if phase["rate"] else None,
             "late_sends": phase["late_sends"], "cpu_cores": cpu_use(phase)}
    stats["cpu_us_per_request"] = {k: round(stats["cpu_cores"][k] / stats["throughput_rps"] * 1e6, 1)
                                   for k in ("replicas", "nginx", "locust", "redis") if k in stats["cpu_cores"] and count}
    if phase["rate"]:
        stats["offered_rps"] = round(phase["rate"], 1)
    return stats


def cpu_use(phase: dict) -> dict:
    """Average cores used during the phase by each process group, ours in total, and everything else."""
    start, end = phase.get("cpu_start"), phase.get("cpu_end")
    if not start or not end:
        return {}
    seconds = end["t"] - start["t"]
    use = {name: (value - start["groups"].get(name, value)) / seconds for name, value in end["groups"].items()}
    grouped: dict[str, float] = {}
    for name, value in use.items():
        key = "replicas" if name.startswith("inference-") else name
        grouped[key] = grouped.get(key, 0.0) + value
    machine = (end["machine"]["busy"] - start["machine"]["busy"]) / seconds
    grouped = {k: round(v, 3) for k, v in grouped.items()}
    grouped["machine_busy"] = round(machine, 3)
    grouped["other_processes"] = round(max(0.0, machine - sum(use.values())), 3)
    grouped["steal"] = round((end["machine"]["steal"] - start["machine"]["steal"]) / seconds, 3)
    return grouped
