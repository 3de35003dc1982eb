"""The benchmark's load generator: one locust process runs a plan of timed phases (loadtests/bench.py).

    BENCH_PLAN=plan.json .venv/bin/locust -f loadtests/bench_locustfile.py --headless -u N -r N -H http://127.0.0.1:PORT

The plan (JSON) lists phases, each {name, path: "ping" | "recommend", rate, duration}. All users are
spawned first, then a warm-up (the first phase's traffic, not recorded: connections get opened), then
the phases back to back. rate 0 is closed loop (every user sends
its next request as soon as the answer is in: the throughput ceiling); rate R > 0 is a fixed offered
load: each of the U users sends on its own schedule every U/R seconds, with random offsets, whether or
not earlier answers were slow (a late user catches up). Latency is recorded twice: the service time
(send -> answer, what locust reports) and, wrk2-style, from the *scheduled* send time, which also
counts the time a request waited for a busy client (coordinated omission).

Every answer is checked like the load test does (harness.answers). At phase boundaries the CPU
time of the processes named in the plan (nginx, replicas, redis) and of this process is sampled from
/proc, plus the whole machine's, so the report can say who used the cores. Results go to the plan's
`out` file; locust's own stats are not used.
"""

from __future__ import annotations

import json
import os
import random
import time
from array import array
from collections import Counter
from pathlib import Path

import gevent
from locust import FastHttpUser, constant, events, task

from harness.answers import check_answer
from loadtests.traffic import UserMix, load_catalog

PLAN = json.loads(Path(os.environ["BENCH_PLAN"]).read_text()) if os.environ.get("BENCH_PLAN") else None
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Phase:
    def __init__(self, index: int, spec: dict, start: float):
        self.index, self.name, self.path = index, spec["name"], spec["path"]
        self.rate, self.duration = float(spec.get("rate", 0)), float(spec["duration"])
        self.start, self.end = start, start + self.duration
        self.record_versions = bool(spec.get("record_versions"))
        self.service_ms = array("d")
        self.scheduled_ms = array("d")
        self.sent = array("d")
        self.failures: Counter = Counter()
        self.ok = 0
        self.late_sends = 0
        self.versions: list[tuple[float, float, str, str, int]] = []  # (sent, answered, version, replica, ok)
        self.cpu_start: dict | None = None
        self.cpu_end: dict | None = None

    def result(self) -> dict:
        return {"name": self.name, "path": self.path, "rate": self.rate, "duration": self.duration,
                "start": self.start, "end": self.end, "ok": self.ok, "failures": dict(self.failures),
                "late_sends": self.late_sends, "service_ms": self.service_ms.tolist(),
                "scheduled_ms": self.scheduled_ms.tolist(), "sent": self.sent.tolist(), "versions": self.versions,
                "cpu_start": self.cpu_start, "cpu_end": self.cpu_end}


STATE: dict = {"phases": [], "t0": None}


def phase_at(now: float) -> Phase | None:
    for phase in STATE["phases"]:
        if phase.start <= now < phase.end:
            return phase
    return None


def cpu_sample() -> dict:
    """CPU seconds (user + system) of every process group in the plan, this process, and the machine."""
    groups = dict(PLAN.get("pids", {}), locust=[os.getpid()])
    sample = {"t": time.time(), "groups": {}}
    for name, pids in groups.items():
        total = 0.0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        sample["groups"][name] = total
    with open("/proc/stat") as handle:
        values = [int(v) for v in handle.readline().split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    steal = values[7] if len(values) > 7 else 0
    sample["machine"] = {"busy": (sum(values[:8]) - idle - steal) / CLOCK_TICKS, "idle": idle / CLOCK_TICKS,
                         "steal": steal / CLOCK_TICKS}
    return sample


def conductor(environment) -> None:
    """Wait for the spawn, lay out the phases, sample CPU at each boundary, stop locust after the last."""
    users = int(PLAN["users"])
    while environment.runner.user_count < users:
        gevent.sleep(0.05)
    warmup = float(PLAN.get("warmup", 2.0))
    t0 = time.time() + warmup
    # Warm-up: the first phase's traffic, not recorded, so that every user has its connection open
    # (and nginx its upstream connections) before anything is measured.
    first = dict(PLAN["phases"][0], name="warmup", duration=warmup, record_versions=False)
    phases = [Phase(-1, first, t0 - warmup)] if warmup > 0 else []
    start = t0
    for index, spec in enumerate(PLAN["phases"]):
        phase = Phase(index, spec, start)
        phases.append(phase)
        start = phase.end + float(PLAN.get("gap", 0.0))
    STATE["phases"], STATE["t0"] = phases, t0
    measured = [p for p in phases if p.index >= 0]
    Path(PLAN["out"] + ".started").write_text(json.dumps({"t0": t0, "phases": [[p.name, p.start, p.end] for p in measured]}))
    for phase in measured:
        gevent.sleep(max(0.0, phase.start - time.time()))
        phase.cpu_start = cpu_sample()
        gevent.sleep(max(0.0, phase.end - time.time()))
        phase.cpu_end = cpu_sample()
    gevent.sleep(0.3)  # answers in flight
    environment.runner.quit()


@events.test_start.add_listener
def _start(environment, **_kwargs):
    known = PLAN["known"]
    STATE["mix"] = UserMix((known[0], known[1]), PLAN.get("unknown_share", 0.05), PLAN.get("zipf_exponent", 1.0), seed=1)
    STATE["catalog"] = load_catalog(PLAN.get("catalog"))
    gevent.spawn(conductor, environment)


@events.quitting.add_listener
def _write(environment, **_kwargs):
    if PLAN is None:
        return
    measured = [p for p in STATE["phases"] if p.index >= 0]
    out = {"users": PLAN["users"], "t0": STATE["t0"], "phases": [p.result() for p in measured]}
    Path(PLAN["out"]).write_text(json.dumps(out))
    environment.process_exit_code = 0 if measured and measured[-1].cpu_end else 3


class BenchUser(FastHttpUser):
    network_timeout = 5.0
    connection_timeout = 2.0
    wait_time = constant(0)

    def on_start(self):
        self.phase_index = None
        self.next_at = 0.0

    @task
    def step(self):
        now = time.time()
        phase = phase_at(now)
        if phase is None:
            upcoming = [p.start for p in STATE["phases"] if p.start > now]
            gevent.sleep(min(0.05, upcoming[0] - now) if upcoming else 0.05)
            return
        scheduled = now
        if phase.rate > 0:
            interval = PLAN["users"] / phase.rate
            if phase.index != self.phase_index:
                self.phase_index = phase.index
                self.next_at = phase.start + random.random() * interval  # nosec B311  # load-test jitter, not security
            scheduled = self.next_at
            self.next_at += interval
            if scheduled >= phase.end:
                gevent.sleep(max(0.0, phase.end - time.time()))
                return
            delay = scheduled - time.time()
            if delay > 0:
                gevent.sleep(delay)
            elif delay < -0.001:
                phase.late_sends += 1
        if phase.path == "ping":
            path, name = "/ping", "/ping"
        else:
            user_id, kind = STATE["mix"].next()
            path, name = f"/recommend/{user_id}", f"/recommend/[{kind}]"
        sent = time.time()
        with self.client.get(path, name=name, catch_response=True) as response:
            service_ms = response.request_meta["response_time"]
            answered = time.time()
            status = response.status_code or 0
            if phase.path == "ping":
                reason = None if status == 200 and response.text == "pong" else (
                    check_answer(status, None, error=getattr(response, "error", None)) if status != 200 else "wrong body")
            else:
                reason = check_answer(status, response.text if status else None, STATE["catalog"], service_ms,
                                      error=getattr(response, "error", None))
            if reason:
                response.failure(reason)
                phase.failures[reason] += 1
            else:
                response.success()
                phase.ok += 1
            phase.service_ms.append(service_ms)
            phase.scheduled_ms.append((answered - scheduled) * 1000)
            phase.sent.append(sent)
            if phase.record_versions:
                headers = response.headers or {}
                phase.versions.append((sent, answered, headers.get("X-Model-Version", ""), headers.get("X-Served-By", ""),
                                       int(reason is None)))
