#!/usr/bin/env python3
"""Serving benchmark: ceiling ratio, latency vs offered load, replica scaling, model compute and
memory at course scale, hot swap under load (`make bench`; `make bench BENCH_ARGS=--quick`).

    .venv/bin/python loadtests/bench.py [--quick] [--out DIR] [--model-dir DIR] [--skip-compute]

Runs its own stack on loopback (tests/support/stack.py: redis-server, N gunicorn replicas, nginx on
free ports; `make up` is not needed and not touched) with a model trained once from the generated
`default` preset (cached in --model-dir). The load generator is locust (loadtests/bench_locustfile.py)
on the same machine, targeting 127.0.0.1 only. Steps:

1. ceiling: closed loop, the same client alternating `/ping` and `/recommend` through the same nginx
   and replicas: /recommend throughput as a fraction of /ping's.
   The /recommend closed-loop throughput is the saturation throughput S.
2. latency vs offered load: fixed request rates from 0.1 S to beyond S (open loop per user),
   p50/p95/p99 per rate; target p99 <= 20 ms at S/2 with no error.
3. hot swap: a new version is published at S/2 load; failed requests and the time until every
   replica answers with it.
4. replica scaling: 1, 2, 4 replicas (closed loop, /recommend and /ping).
5. model compute + replica memory at 1,000,000 users x 27,000 movies: scripts/bench_inference.py.

Writes bench.json (every figure), bench.md (summary naming the machine), bench-latency.png,
bench-scaling.png and bench-swap.png into --out (default loadtests/results; --quick: loadtests/results/tmp/quick).
Exit code 0 when the run completed (targets missed are reported, not an error), 1 when it failed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = Path(sys.executable).parent

from common.weightcache import WeightStore  # noqa: E402
from scripts.render_nginx import check_config, traffic_limits  # noqa: E402
from tests.support.processes import process_tree  # noqa: E402
from tests.support.stack import Stack  # noqa: E402

PREFIX = "recsys"  # tests/support/stack.py sets WEIGHTS_PREFIX=recsys for its replicas
TARGETS = {"ceiling_ratio": 0.8, "p99_at_half_saturation_ms": 20.0, "compute_ms": 0.5, "replica_memory_mb": 400.0,
           "swap_failures": 0, "swap_seconds": 2.0}
PING_LOCATION = """
    # Added by loadtests/bench.py: /ping proxied exactly like /recommend/ (the ceiling).
    location = /ping {
        if ($request_method !~ ^(GET|HEAD)$) {
            return 405;
        }
        proxy_pass http://recsys_inference;
    }

"""


@dataclass(frozen=True)
class Profile:
    name: str
    replicas: int = 2            # main stack, as `make up`
    workers: int = 2             # WEB_CONCURRENCY per replica, as `make up` on 2 cores (cores)
    scaling: tuple = (1, 2, 4)
    scaling_workers: int = 1
    closed_users: int = 32
    open_users: int = 128
    warmup: float = 2.0
    ceiling_rounds: int = 4
    ceiling_s: float = 6.0
    sweep: tuple = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.15)
    sweep_s: float = 8.0
    swap_s: float = 12.0
    swap_at: float = 4.0
    scaling_s: float = 6.0
    compute_users: int = 1_000_000
    compute_movies: int = 27_000
    compute_repeats: int = 20_000


FULL = Profile("full")
QUICK = Profile("quick", closed_users=32, open_users=96, warmup=2.0, ceiling_rounds=2, ceiling_s=3.0, sweep=(0.25, 0.5, 0.9),
                sweep_s=4.0, swap_s=6.0, swap_at=2.0, scaling=(1, 2), scaling_s=3.0, compute_repeats=5_000)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------- machine and model

def machine_info() -> dict:
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def version_of(cmd: list[str]) -> str:
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=10)  # nosec B603  # fixed version commands
            return (result.stdout + result.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.SubprocessError):
            return "unknown"

    packages = {}
    for name in ("gunicorn", "flask", "numpy", "redis", "locust", "geventhttpclient", "gevent", "lightfm-next", "matplotlib"):
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    mem_total = 0
    try:
        mem_total = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024
    except (OSError, AttributeError):
        pass
    return {"cores": os.cpu_count(), "cpu_model": cpu_model, "memory_mb": mem_total, "python": platform.python_version(),
            "platform": platform.platform(), "nginx": version_of(["nginx", "-v"]).replace("nginx version: ", ""),
            "redis": version_of(["redis-server", "--version"]), "packages": packages}


def machine_load() -> dict:
    """Load average and the busiest processes right now (was the machine quiet?)."""
    top = []
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True, timeout=10).stdout  # nosec B603 B607  # fixed argv; ps from PATH
        for line in out.splitlines()[1:6]:
            pcpu, _, args = line.strip().partition(" ")
            top.append({"cpu_percent": float(pcpu), "command": args.strip()[:100]})
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "top_processes": top}


def busy_cores(seconds: float = 3.0) -> float:
    """Cores the whole machine used over the next `seconds` (from /proc/stat)."""
    def sample():
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(values[:8]) - values[3] - values[4] - (values[7] if len(values) > 7 else 0)
    ticks = os.sysconf("SC_CLK_TCK")
    before = sample()
    time.sleep(seconds)
    return (sample() - before) / ticks / seconds


def wait_quiet(max_seconds: float, threshold: float = 0.25) -> float:
    """Wait until the machine used < threshold cores in two consecutive 5 s windows; the last figure."""
    deadline = time.monotonic() + max_seconds
    quiet_windows, used = 0, busy_cores(5)
    while time.monotonic() < deadline:
        quiet_windows = quiet_windows + 1 if used < threshold else 0
        if quiet_windows >= 2:
            return used
        say(f"waiting for a quiet machine: {used:.2f} cores busy")
        used = busy_cores(5)
    return used


def ensure_model(model_dir: Path) -> Path:
    """The `default` preset trained once (about 30 s), reused across runs."""
    if (model_dir / "model.json").exists():
        return model_dir
    trainer = str(BIN / "trainer")
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        say(f"no model in {model_dir}: generating the default preset and training it once (about 30 s, reused later)")
        for args in (["generate-data", "--preset", "default", "--out", f"{tmp}/data"],
                     ["train", "--data-dir", f"{tmp}/data", "--model-dir", str(model_dir)]):
            result = subprocess.run([trainer, *args], capture_output=True, text=True, timeout=1800)  # nosec B603  # the venv's trainer, fixed arguments
            if result.returncode != 0:
                raise RuntimeError(f"trainer {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return model_dir


def load_bundle(model_dir: Path):
    from trainer import artifacts

    return artifacts.load(model_dir).bundle


# --------------------------------------------------------------------------- the stack

class BenchStack:
    """tests/support/stack.Stack with a model published and warmed up."""

    def __init__(self, workdir: Path, replicas: int, workers: int, bundle):
        # The benchmark measures capacity: one client (locust) must not be rate-limited by nginx.
        self.stack = Stack(workdir, replicas=replicas, workers=workers,
                           limits=traffic_limits({}, replicas=replicas, workers=workers, client_rate=1_000_000,
                                                client_burst=1_000_000))
        self.bundle = bundle
        self.version = None

    def __enter__(self) -> "BenchStack":
        try:
            self.stack.start()
            self._proxy_ping()
            self.version = self.publish(self.bundle.to_arrays())
            self.stack.wait_ready(self.version, timeout=60)
            self._wait_ping()
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

    def publish(self, arrays: dict) -> str:
        return WeightStore(self.stack.redis.client(), prefix=PREFIX).publish(arrays)

    def _proxy_ping(self) -> None:
        """The nginx template proxies /ping since b446931; for an older template add it, like /recommend/."""
        conf = self.stack.workdir / "nginx" / "recsys.conf"
        text = conf.read_text()
        if "location = /ping" in text:
            return
        anchor = "    location / {\n        return 404;"
        if anchor not in text:
            raise RuntimeError(f"{conf}: no `location = /ping` and no place to add one")
        conf.write_text(text.replace(anchor, PING_LOCATION.lstrip("\n") + anchor, 1))
        check_config(self.stack.workdir / "nginx" / "nginx.conf", error_log=self.stack.workdir / "logs" / "nginx-error.log")
        os.kill(self.stack.nginx.pid, signal.SIGHUP)  # reload: new workers with the new config

    def _wait_ping(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = requests.get(f"{self.url}/ping", timeout=1)
                if response.status_code == 200 and response.text == "pong":
                    time.sleep(0.5)  # the old nginx workers finish
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError("nginx does not proxy /ping after the reload")

    def _warm(self) -> None:
        session = requests.Session()
        for user_id in range(1, 400):
            session.get(f"{self.url}/recommend/{user_id}", timeout=5)

    def pids(self) -> dict[str, list[int]]:
        groups = {"nginx": process_tree(self.stack.nginx.pid), "redis": [self.stack.redis.proc.pid]}
        for replica in self.stack.replicas:
            groups[replica.name] = process_tree(replica.proc.pid)
        return groups


# --------------------------------------------------------------------------- locust runs

def run_locust(stack: BenchStack, phases: list[dict], users: int, workdir: Path, label: str, known: tuple[int, int],
               catalog: str, during=None) -> dict:
    """One locust process running `phases` against the stack; `during(started_info)` runs meanwhile."""
    out = workdir / f"locust-{label}.json"
    plan = {"out": str(out), "users": users, "warmup": PROFILE.warmup, "phases": phases, "known": list(known),
            "unknown_share": ARGS.unknown_share, "zipf_exponent": ARGS.zipf_exponent, "catalog": catalog, "pids": stack.pids()}
    plan_path = workdir / f"plan-{label}.json"
    plan_path.write_text(json.dumps(plan))
    if not stack.url.startswith("http://127.0.0.1:"):
        raise RuntimeError(f"refusing to load anything but loopback: {stack.url}")
    cmd = [str(BIN / "locust"), "-f", str(ROOT / "loadtests" / "bench_locustfile.py"), "--headless", "--only-summary",
           "-u", str(users), "-r", str(users), "-H", stack.url, "--loglevel", "WARNING"]
    total = PROFILE.warmup + sum(p["duration"] for p in phases) + 60
    log = open(workdir / f"locust-{label}.log", "w")
    proc = subprocess.Popen(cmd, env=dict(os.environ, BENCH_PLAN=str(plan_path)), stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)  # nosec B603  # the venv's locust, argv built here
    try:
        if during is not None:
            started = Path(str(out) + ".started")
            deadline = time.monotonic() + 60
            while not started.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"locust did not start: see {workdir / f'locust-{label}.log'}")
                time.sleep(0.05)
            during(json.loads(started.read_text()))
        code = proc.wait(timeout=total)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    if code != 0 or not out.exists():
        tail = (workdir / f"locust-{label}.log").read_text()[-3000:]
        raise RuntimeError(f"locust run {label} failed (exit {code}):\n{tail}")
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
    use = {}
    for name, value in end["groups"].items():
        use[name] = (value - start["groups"].get(name, value)) / seconds
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


# --------------------------------------------------------------------------- the steps

def step_ceiling(stack: BenchStack, workdir: Path, known, catalog) -> dict:
    phases = []
    for round_ in range(PROFILE.ceiling_rounds):
        phases += [{"name": f"ping-{round_}", "path": "ping", "rate": 0, "duration": PROFILE.ceiling_s},
                   {"name": f"recommend-{round_}", "path": "recommend", "rate": 0, "duration": PROFILE.ceiling_s}]
    result = run_locust(stack, phases, PROFILE.closed_users, workdir, "ceiling", known, catalog)
    stats = {p["name"]: phase_stats(p) for p in result["phases"]}
    rounds = [{"ping_rps": stats[f"ping-{r}"]["throughput_rps"], "recommend_rps": stats[f"recommend-{r}"]["throughput_rps"],
               "ratio": round(stats[f"recommend-{r}"]["throughput_rps"] / max(1e-9, stats[f"ping-{r}"]["throughput_rps"]), 3)}
              for r in range(PROFILE.ceiling_rounds)]
    ping = sum(r["ping_rps"] for r in rounds) / len(rounds)
    recommend = sum(r["recommend_rps"] for r in rounds) / len(rounds)
    ratio = recommend / max(1e-9, ping)  # of the totals; the per-round ratios show the spread
    return {"closed_loop_users": PROFILE.closed_users, "phase_seconds": PROFILE.ceiling_s, "rounds": rounds,
            "ping_rps": round(ping, 1), "recommend_rps": round(recommend, 1), "ratio": round(ratio, 3),
            "target": TARGETS["ceiling_ratio"], "pass": ratio >= TARGETS["ceiling_ratio"], "phases": stats}


def step_sweep(stack: BenchStack, workdir: Path, known, catalog, saturation: float) -> dict:
    phases = [{"name": f"rate-{f:g}", "path": "recommend", "rate": round(f * saturation, 1), "duration": PROFILE.sweep_s}
              for f in PROFILE.sweep]
    result = run_locust(stack, phases, PROFILE.open_users, workdir, "sweep", known, catalog)
    points = []
    for fraction, phase in zip(PROFILE.sweep, result["phases"]):
        stats = phase_stats(phase)
        stats["fraction_of_saturation"] = fraction
        points.append(stats)
    half = next((p for p in points if p["fraction_of_saturation"] == 0.5), None)
    ok = bool(half) and half["p99_ms"] is not None and half["p99_ms"] <= TARGETS["p99_at_half_saturation_ms"] and half["errors"] == 0
    return {"open_loop_users": PROFILE.open_users, "phase_seconds": PROFILE.sweep_s, "saturation_rps": round(saturation, 1),
            "points": points, "half_saturation": half, "target_p99_ms": TARGETS["p99_at_half_saturation_ms"], "pass": ok,
            "errors": sum(p["errors"] for p in points)}


def step_swap(stack: BenchStack, workdir: Path, known, catalog, rate: float) -> dict:
    new_arrays = dict(stack.bundle.to_arrays())
    new_arrays["item_biases"] = new_arrays["item_biases"] + np.float32(1e-3)  # a different version, same answers
    record: dict = {}

    def publish_during(started: dict) -> None:
        phase_start = started["phases"][0][1]
        time.sleep(max(0.0, phase_start + PROFILE.swap_at - time.time()))
        stop = threading.Event()
        first_new: dict[str, float] = {}
        store = WeightStore(stack.stack.redis.client(), prefix=PREFIX)
        pubsub = store.subscribe()  # the notification marks the moment the pointer moved

        def listen() -> None:
            while not stop.is_set() and "pointer_moved" not in record:
                message = pubsub.get_message(timeout=0.1)
                if message and message.get("type") == "message":
                    record["pointer_moved"] = time.time()
                    record["notified_version"] = message["data"].decode()

        def poll_readyz() -> None:  # each replica's own /readyz, not through nginx
            session = requests.Session()
            while not stop.is_set():
                for replica in stack.stack.replicas:
                    if replica.name in first_new:
                        continue
                    try:
                        response = session.get(f"http://127.0.0.1:{replica.port}/readyz", timeout=0.5)
                        if response.status_code == 200 and response.text != stack.version:
                            first_new[replica.name] = time.time()
                    except requests.RequestException:
                        pass
                time.sleep(0.005)

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        poller = threading.Thread(target=poll_readyz, daemon=True)
        poller.start()
        record["publish_started"] = time.time()
        version = store.publish(new_arrays)
        record["published"] = time.time()
        record["version"] = version
        deadline = time.time() + 10
        while len(first_new) < len(stack.stack.replicas) and time.time() < deadline:
            time.sleep(0.01)
        stop.set()
        poller.join(2)
        listener.join(2)
        pubsub.close()
        record["readyz_first_new"] = first_new

    phase = {"name": "swap", "path": "recommend", "rate": round(rate, 1), "duration": PROFILE.swap_s, "record_versions": True}
    result = run_locust(stack, [phase], PROFILE.open_users, workdir, "swap", known, catalog, during=publish_during)
    raw = result["phases"][0]
    stats = phase_stats(raw)
    new = record["version"]
    moved = record.get("pointer_moved", record["published"])  # pointer moved + PUBLISH sent, seen by a subscriber
    old = stack.version
    # (sent, answered, version, replica, ok): answers from the old version to requests sent after the pointer moved
    old_after = [r for r in raw["versions"] if r[2] == old and r[0] >= moved]
    # Conservative: the last answer from the old version at all (also to requests sent before the pointer moved,
    # still in flight), relative to the moment our own subscriber saw the notification (replicas may see it earlier).
    last_old_answer = max((r[1] for r in raw["versions"] if r[2] == old), default=moved)
    first_new_answer = min((r[1] for r in raw["versions"] if r[2] == new), default=None)
    readyz = {name: round(t - moved, 3) for name, t in record["readyz_first_new"].items()}
    all_replicas_s = max(0.0, last_old_answer - moved)
    # Timeline for the plot: answers per 100 ms by version.
    t0 = raw["start"]
    bins = int(np.ceil(raw["duration"] * 10)) + 5
    timeline = {"bin_s": 0.1, "old": [0] * bins, "new": [0] * bins, "failed": [0] * bins}
    for sent, answered, version, _replica, ok in raw["versions"]:
        index = min(bins - 1, max(0, int((answered - t0) * 10)))
        timeline["failed" if not ok else ("new" if version == new else "old")][index] += 1
    served_by = sorted({r[3] for r in raw["versions"] if r[2] == new})
    return {"offered_rps": round(rate, 1), "phase_seconds": PROFILE.swap_s, "old_version": old, "new_version": new,
            "publish_seconds": round(record["published"] - record["publish_started"], 3),
            "pointer_moved_after_publish_start_s": round(moved - record["publish_started"], 3),
            "published_at_s": round(moved - t0, 3),
            "first_new_answer_after_publish_s": round(first_new_answer - moved, 3) if first_new_answer else None,
            "old_answers_after_publish": len(old_after),
            "mixed_versions_window_s": round(max(0.0, last_old_answer - first_new_answer), 3) if first_new_answer else None,
            "time_until_every_replica_serves_it_s": round(all_replicas_s, 3),
            "readyz_first_new_s": readyz, "replicas_answering_new": served_by,
            "failed_requests": stats["errors"], "requests": stats["requests"], "stats": stats, "timeline": timeline,
            "pass": stats["errors"] == TARGETS["swap_failures"] and all_replicas_s <= TARGETS["swap_seconds"]
                    and len(readyz) == len(stack.stack.replicas)}


def step_scaling(bundle, workdir: Path, known, catalog) -> dict:
    points = []
    for replicas in PROFILE.scaling:
        say(f"scaling: {replicas} replica(s) x {PROFILE.scaling_workers} worker(s)")
        with BenchStack(workdir / f"stack-{replicas}", replicas, PROFILE.scaling_workers, bundle) as stack:
            phases = [{"name": "recommend", "path": "recommend", "rate": 0, "duration": PROFILE.scaling_s},
                      {"name": "ping", "path": "ping", "rate": 0, "duration": PROFILE.scaling_s}]
            result = run_locust(stack, phases, PROFILE.closed_users, workdir, f"scaling-{replicas}", known, catalog)
        stats = {p["name"]: phase_stats(p) for p in result["phases"]}
        points.append({"replicas": replicas, "workers_per_replica": PROFILE.scaling_workers,
                       "recommend_rps": stats["recommend"]["throughput_rps"], "ping_rps": stats["ping"]["throughput_rps"],
                       "recommend": stats["recommend"], "ping": stats["ping"]})
        say(f"  /recommend {stats['recommend']['throughput_rps']:.0f}/s, /ping {stats['ping']['throughput_rps']:.0f}/s, "
            f"cores: {stats['recommend']['cpu_cores']}")
    return {"closed_loop_users": PROFILE.closed_users, "phase_seconds": PROFILE.scaling_s, "points": points}


PROFILE_CATEGORIES = (  # a sample goes to the first category one of whose markers is anywhere in its stack
    ("model watcher thread", ("inference/watcher.py",)),
    ("metrics (prometheus_client)", ("prometheus_client/",)),
    ("user directory (Redis cache lookup for unknown users)", ("inference/users.py", "redis/")),
    ("recommender: id lookup, top-k row, movie ids", ("common/recommend.py", "numpy/")),
    ("view: routes.recommend / ping", ("inference/routes.py",)),
    ("app hooks (inference/app.py)", ("inference/app.py",)),
    ("Flask / werkzeug (context, dispatch, response)", ("flask/", "werkzeug/")),
    ("gunicorn (HTTP parse, write, keep-alive, poll)", ("gunicorn/", "selectors.py", "concurrent/futures", "socket.py")),
)


def categorize(lines: list[str]) -> dict:
    """Share of py-spy --gil samples per category (collapsed stacks: 'frame;frame;... count')."""
    counts: dict[str, int] = {}
    total = 0
    for line in lines:
        stack, _, n = line.rstrip().rpartition(" ")
        if not n.isdigit():
            continue
        total += int(n)
        name = "other (watcher thread, interpreter)"
        for category, markers in PROFILE_CATEGORIES:
            if any(marker in stack for marker in markers):
                name = category
                break
        counts[name] = counts.get(name, 0) + int(n)
    return {"samples": total, "shares": {k: round(v / total, 4) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}} if total else {}


def step_profile(stack: BenchStack, workdir: Path, known, catalog) -> dict:
    """py-spy (--gil: what holds the interpreter) on replica 1's workers during closed-loop /ping and /recommend."""
    pyspy = shutil.which("py-spy", path=str(BIN)) or shutil.which("py-spy")
    if not pyspy:
        return {"skipped": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    workers = process_tree(stack.stack.replicas[0].proc.pid)[1:]
    seconds = max(3, int(PROFILE.ceiling_s))
    phases = [{"name": "ping", "path": "ping", "rate": 0, "duration": seconds + 1.5},
              {"name": "recommend", "path": "recommend", "rate": 0, "duration": seconds + 1.5}]

    def record(info: dict) -> None:
        for name, start, _end in info["phases"]:
            time.sleep(max(0.0, start + 0.5 - time.time()))
            procs = [subprocess.Popen([pyspy, "record", "-p", str(pid), "-d", str(seconds), "-r", "500", "--gil", "--nonblocking",  # nosec B603  # py-spy from the venv, fixed arguments
                                       "--format", "raw", "-o", str(workdir / f"profile-{name}-{pid}.txt")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in workers]
            for proc in procs:
                proc.wait(seconds + 30)

    result = run_locust(stack, phases, PROFILE.closed_users, workdir, "profile", known, catalog, during=record)
    out = {"tool": f"py-spy record --gil -r 500 on the {len(workers)} workers of inference-1", "phases": {}}
    for phase in result["phases"]:
        lines = [line for f in sorted(workdir.glob(f"profile-{phase['name']}-*.txt")) for line in f.read_text().splitlines()]
        stats = phase_stats(phase)
        out["phases"][phase["name"]] = dict(categorize(lines), throughput_rps=stats["throughput_rps"],
                                            cpu_us_per_request=stats["cpu_us_per_request"])
    return out


def step_compute(workdir: Path) -> dict:
    out = workdir / "inference-bench.json"
    args = ["--users", str(PROFILE.compute_users), "--movies", str(PROFILE.compute_movies), "--repeats", str(PROFILE.compute_repeats)]
    cmd = [sys.executable, str(ROOT / "scripts" / "bench_inference.py"), *args, "--json", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)  # nosec B603  # this Python on a script of the repo
    if result.returncode != 0:
        raise RuntimeError(f"scripts/bench_inference.py failed:\n{result.stderr[-3000:]}")
    data = json.loads(out.read_text())
    memory = {state: round(data["replica"][state]["private_sum_mb"] + data["replica"][state]["model_files_mb"], 1)
              for state in ("steady", "after_swap")}
    compute = data["compute_ms"]
    data["replica_memory_mb"] = memory
    data["pass"] = {"compute": compute["known_user_ms"] <= TARGETS["compute_ms"],
                    "memory": max(memory.values()) <= TARGETS["replica_memory_mb"]}
    data["command"] = " ".join(["scripts/bench_inference.py", *args])
    return data


# --------------------------------------------------------------------------- outputs


def _save(fig, path: Path) -> str:
    """Write one plot and free it; returns its file name."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name

def plots(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    sweep = results.get("latency_vs_load")
    if sweep:
        points = sweep["points"]
        offered = [p["offered_rps"] for p in points]
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
        for key, label, style in (("p50_ms", "p50", "o-"), ("p95_ms", "p95", "s-"), ("p99_ms", "p99", "^-"),
                                  ("p99_from_schedule_ms", "p99 from scheduled send (wrk2-style)", "^--")):
            top.plot(offered, [p[key] for p in points], style, label=label)
        top.axhline(TARGETS["p99_at_half_saturation_ms"], color="red", lw=0.8, ls=":", label="target p99 at S/2 (20 ms)")
        top.axvline(sweep["saturation_rps"] / 2, color="grey", lw=0.8, ls=":")
        top.axvline(sweep["saturation_rps"], color="grey", lw=0.8, ls="--")
        top.set_yscale("log")
        for x, label in ((sweep["saturation_rps"] / 2, "S/2"), (sweep["saturation_rps"], "S")):
            top.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -12), textcoords="offset points",
                         color="grey", fontsize=8)
        top.set_ylabel("latency through nginx (ms, log)")
        top.set_title(f"/recommend latency vs offered load ({results['setup']['replicas']} replicas x "
                      f"{results['setup']['workers']} workers; S = {sweep['saturation_rps']:.0f} req/s closed loop)", fontsize=9)
        top.legend(fontsize=8)
        top.grid(True, which="both", alpha=0.3)
        bottom.plot(offered, [p["throughput_rps"] for p in points], "o-", label="answered")
        bottom.plot(offered, offered, ":", color="grey", label="offered")
        bottom.set_xlabel("offered load (requests/s)")
        bottom.set_ylabel("req/s")
        bottom.legend(fontsize=8)
        bottom.grid(True, alpha=0.3)
        written.append(_save(fig, out / "bench-latency.png"))
    scaling = results.get("scaling")
    if scaling:
        points = scaling["points"]
        x = np.arange(len(points))
        fig, ax = plt.subplots(figsize=(7, 4.2))
        for offset, key, label in ((-0.2, "recommend_rps", "/recommend"), (0.2, "ping_rps", "/ping (ceiling)")):
            values = [p[key] for p in points]
            bars = ax.bar(x + offset, values, 0.4, label=label)
            ax.bar_label(bars, fmt="%.0f", fontsize=8)
        ax.set_xticks(x, [f"{p['replicas']} replica(s)\nx {p['workers_per_replica']} worker" for p in points])
        ax.set_ylabel("throughput, closed loop (req/s)")
        ax.set_title(f"Throughput per replica count on {results['machine']['cores']} cores (load generator on the same cores)", fontsize=9)
        ax.legend(fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        written.append(_save(fig, out / "bench-scaling.png"))
    swap = results.get("swap")
    if swap:
        line = swap["timeline"]
        t = np.arange(len(line["old"])) * line["bin_s"]
        fig, ax = plt.subplots(figsize=(7, 3.2))
        ax.stackplot(t, np.array(line["old"]) * 10, np.array(line["new"]) * 10, np.array(line["failed"]) * 10,
                     labels=[f"old version {swap['old_version']}", f"new version {swap['new_version']}", "failed"],
                     colors=["#9ab", "#2a7", "#d33"])
        ax.axvline(swap["published_at_s"], color="black", lw=0.8, ls="--", label="pointer moved (notification seen)")
        ax.set_xlabel("seconds into the phase")
        ax.set_ylabel("answers/s (100 ms bins)")
        ax.set_title(f"Hot swap under {swap['offered_rps']:.0f} req/s: {swap['failed_requests']} failed, every replica on the new "
                     f"version {swap['time_until_every_replica_serves_it_s']:.2f} s after publish", fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
        written.append(_save(fig, out / "bench-swap.png"))
    return written


def verdict(ok) -> str:
    return "n/a" if ok is None else ("**PASS**" if ok else "**MISS**")


def fmt(value, digits=1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def cpu_line(cpu: dict) -> str:
    if not cpu:
        return "–"
    parts = [f"{k} {cpu.get(k, 0):.2f}" for k in ("replicas", "nginx", "locust", "redis", "other_processes")]
    return ", ".join(parts)


def summary_markdown(r: dict) -> str:
    m, s = r["machine"], r["setup"]
    lines = [f"# Serving benchmark ({r['mode']} run, {r['generated_at']})", "",
             f"Machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_mb']:,} MB RAM, {m['platform']}; Python {m['python']}; "
             f"nginx {m['nginx']}; {m['redis']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
             f"Load average before the run: {r['load_before']['loadavg']}, after: {r['load_after']['loadavg']}. "
             f"The load generator (one locust process, FastHttpUser) runs on the same {m['cores']} cores as nginx and the "
             f"replicas: see the CPU columns (average cores used).", "",
             f"Stack: nginx (worker_processes auto) -> {s['replicas']} replicas x {s['workers']} gunicorn gthread workers x "
             f"{s['threads']} threads (as `make up` on this machine) on loopback, model `{s['model']}` "
             f"({s['known_users']} known users, {s['movies']} movies); user ids {s['known_range']} Zipf s={s['zipf_exponent']} plus "
             f"{s['unknown_share']:.0%} unknown ids. Every answer is checked as the load test does (200, one line, <= 20 unique "
             f"catalog ids, <= 800 ms). Whole run: {r['duration_s']:.0f} s.", "",
             "## Targets", "", "| figure | value | target | |", "|---|---|---|---|"]
    for t in r["targets"]:
        lines.append(f"| {t['name']} | {t['value']} | {t['target']} | {verdict(t['pass'])} |")
    c = r.get("ceiling")
    if c:
        lines += ["", "## Ceiling ratio (closed loop, same client, same replicas)", "",
                  f"{c['closed_loop_users']} users back to back, {c['phase_seconds']:g} s per phase, /ping and /recommend alternating.", "",
                  "| phase | req/s | p50 ms | p99 ms | errors | cores: replicas, nginx, locust, redis, other |", "|---|---|---|---|---|---|"]
        for name, p in c["phases"].items():
            lines.append(f"| {name} | {p['throughput_rps']:.0f} | {fmt(p['p50_ms'], 2)} | {fmt(p['p99_ms'], 2)} | {p['errors']} | {cpu_line(p['cpu_cores'])} |")
        lines += ["", f"Ratio /recommend / /ping = **{c['ratio']:.3f}** (rounds: {', '.join(str(x['ratio']) for x in c['rounds'])}).", "",
                  "CPU time per request (µs; process CPU during the phase / answers):", "",
                  "| path | replicas | nginx | locust | redis |", "|---|---|---|---|---|"]
        for path in ("ping", "recommend"):
            per = [p["cpu_us_per_request"] for n, p in c["phases"].items() if n.startswith(path + "-")]
            avg = {k: sum(x.get(k, 0) for x in per) / len(per) for k in ("replicas", "nginx", "locust", "redis")}
            lines.append(f"| /{path} | {avg['replicas']:.0f} | {avg['nginx']:.0f} | {avg['locust']:.0f} | {avg['redis']:.0f} |")
    pr = r.get("pyspy")
    if pr and pr.get("phases"):
        names = sorted({k for ph in pr["phases"].values() for k in ph.get("shares", {})},
                       key=lambda k: -pr["phases"].get("recommend", {}).get("shares", {}).get(k, 0))
        lines += ["", f"## Profile ({pr['tool']}, closed loop)", "",
                  "Share of the samples in which a worker thread held the interpreter lock, by where it was; "
                  "µs = share x the replicas' CPU per request.", "",
                  "| where | /ping share | /ping µs | /recommend share | /recommend µs |", "|---|---|---|---|---|"]
        for name in names:
            cells = []
            for path in ("ping", "recommend"):
                ph = pr["phases"].get(path, {})
                share = ph.get("shares", {}).get(name, 0)
                cells += [f"{share:.1%}", f"{share * ph.get('cpu_us_per_request', {}).get('replicas', 0):.0f}"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    elif pr:
        lines += ["", f"Profile skipped: {pr.get('skipped')}."]
    sw = r.get("latency_vs_load")
    if sw:
        lines += ["", "## Latency vs offered load (/recommend)", "",
                  f"Saturation S = {sw['saturation_rps']:.0f} req/s (closed-loop /recommend above). Fixed rates, "
                  f"{sw['open_loop_users']} users each sending on its own schedule, {sw['phase_seconds']:g} s per rate. "
                  "\"p99 sched\" counts from the scheduled send time (includes time a request waited for a busy client).", "",
                  "![latency vs offered load](bench-latency.png)", "",
                  "| offered req/s | of S | answered req/s | p50 ms | p95 ms | p99 ms | p99 sched ms | max ms | errors | late sends | cores: replicas, nginx, locust, redis, other |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for p in sw["points"]:
            lines.append(f"| {p['offered_rps']:.0f} | {p['fraction_of_saturation']:g} | {p['throughput_rps']:.0f} | {fmt(p['p50_ms'], 2)} | "
                         f"{fmt(p['p95_ms'], 2)} | {fmt(p['p99_ms'], 2)} | {fmt(p['p99_from_schedule_ms'], 2)} | {fmt(p['max_ms'], 1)} | "
                         f"{p['errors']} | {p['late_sends']} | {cpu_line(p['cpu_cores'])} |")
    sc = r.get("scaling")
    if sc:
        lines += ["", "## Replica scaling (closed loop)", "", "![throughput per replica count](bench-scaling.png)", "",
                  "| replicas x workers | /recommend req/s | p50 ms | p99 ms | /ping req/s | cores during /recommend: replicas, nginx, locust, redis, other |",
                  "|---|---|---|---|---|---|"]
        for p in sc["points"]:
            rec = p["recommend"]
            lines.append(f"| {p['replicas']} x {p['workers_per_replica']} | {p['recommend_rps']:.0f} | {fmt(rec['p50_ms'], 2)} | "
                         f"{fmt(rec['p99_ms'], 2)} | {p['ping_rps']:.0f} | {cpu_line(rec['cpu_cores'])} |")
    mc = r.get("model_compute")
    if mc:
        cm, rep = mc["compute_ms"], mc["replica"]
        lines += ["", f"## Model compute and replica memory ({mc['scale']['users']:,} users x {mc['scale']['movies']:,} movies)", "",
                  f"From `{mc['command']}` (no HTTP; one replica with {mc['scale']['workers']} workers for memory).", "",
                  "| figure | value |", "|---|---|",
                  f"| known user: lookup + answer string | {cm['known_user_ms']:.4f} ms |",
                  f"| cold start, uncached (scores all movies; then cached per feature combination) | {cm['cold_start_uncached_ms']:.4f} ms |",
                  f"| popularity | {cm['popularity_ms']:.4f} ms |",
                  f"| published version | {rep['published_mb']:.0f} MB, publish {rep['publish_seconds']:.1f} s, first load {rep['first_load_seconds']:.1f} s, swap {rep['swap_seconds']:.1f} s |",
                  f"| replica memory steady: private memory of all processes + model files in tmpfs | {mc['replica_memory_mb']['steady']:.0f} MB (PSS sum {rep['steady']['pss_sum_mb']:.0f} MB) |",
                  f"| replica memory after a hot swap | {mc['replica_memory_mb']['after_swap']:.0f} MB (PSS sum {rep['after_swap']['pss_sum_mb']:.0f} MB) |",
                  "| private memory per process, steady -> after the swap (master, workers) | "
                  + ", ".join(f"{a['uss_mb']:.0f} -> {rep['after_swap']['processes'].get(pid, {}).get('uss_mb', 0):.0f} MB"
                              for pid, a in rep["steady"]["processes"].items()) + " |"]
    sp = r.get("swap")
    if sp:
        lines += ["", "## Hot swap under load", "", "![hot swap](bench-swap.png)", "",
                  f"{sp['offered_rps']:.0f} req/s offered (S/2) for {sp['phase_seconds']:g} s; {sp['new_version']} published "
                  f"(`WeightStore.publish`: {sp['publish_seconds']:.3f} s; the pointer moved — the notification reached a "
                  f"subscriber — {sp['pointer_moved_after_publish_start_s']:.3f} s after it started, {sp['published_at_s']:.2f} s into "
                  f"the phase). Failed requests: **{sp['failed_requests']}** of {sp['requests']}. After the pointer moved: first "
                  f"answer from the new version after {fmt(sp['first_new_answer_after_publish_s'], 3)} s; last answer from the old "
                  f"version (also to requests sent earlier and still in flight) after {sp['time_until_every_replica_serves_it_s']:.3f} s: "
                  f"from then on every worker of every replica answers with the new version; old and new answers were mixed for "
                  f"{fmt(sp['mixed_versions_window_s'], 3)} s ({sp['old_answers_after_publish']} old answers to requests sent after "
                  f"the pointer moved); each replica's /readyz first showed it after "
                  + ", ".join(f"{k} {v:.3f} s" for k, v in sp["readyz_first_new_s"].items())
                  + f". p99 during the phase {fmt(sp['stats']['p99_ms'], 2)} ms, max {fmt(sp['stats']['max_ms'], 1)} ms."]
    if r.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    lines += ["", "How to read these figures: loadtests/README.md.", ""]
    return "\n".join(lines)


def make_notes(r: dict, out: Path) -> list[str]:
    notes = []
    load = r.get("load_before", {})
    busy = load.get("busy_cores_3s")
    if busy is not None and busy > 0.25:
        notes.append(f"the machine was not quiet at the start: {busy} cores busy in the 3 s before (load average "
                     f"{load.get('loadavg')}); other processes' CPU is in the 'other' column of every phase")
    elif load.get("loadavg", [0])[0] >= 0.7:
        notes.append(f"load average {load['loadavg']} at the start reflects the minutes before (the 1-minute figure lags); "
                     f"the machine used {busy} cores in the 3 s before the start")
    disturbed = disturbed_phases(r)
    if disturbed:
        notes.append("phases during which processes outside the benchmark used more than 0.15 cores (their figures are "
                     "pessimistic): " + ", ".join(f"{name} ({cores:.2f})" for name, cores in disturbed))
    else:
        notes.append("no phase was disturbed: processes outside the benchmark used at most 0.15 cores during every phase")
    if (out / "findings.md").exists():
        notes.append("profiles and A/B experiments behind the suggested service changes: [findings.md](findings.md)")
    return notes


def disturbed_phases(r: dict, limit: float = 0.15) -> list[tuple[str, float]]:
    found = []
    for name, p in (r.get("ceiling") or {}).get("phases", {}).items():
        found.append((f"ceiling {name}", p["cpu_cores"].get("other_processes", 0)))
    for p in (r.get("latency_vs_load") or {}).get("points", []):
        found.append((f"rate {p['offered_rps']:.0f}/s", p["cpu_cores"].get("other_processes", 0)))
    if r.get("swap"):
        found.append(("swap", r["swap"]["stats"]["cpu_cores"].get("other_processes", 0)))
    for p in (r.get("scaling") or {}).get("points", []):
        for path in ("recommend", "ping"):
            found.append((f"scaling {p['replicas']} {path}", p[path]["cpu_cores"].get("other_processes", 0)))
    return [(n, c) for n, c in found if c > limit]


def target_rows(r: dict) -> list[dict]:
    rows = []
    if r.get("ceiling"):
        c = r["ceiling"]
        rows.append({"name": "ceiling ratio /recommend vs /ping", "value": f"{c['ratio']:.3f} ({c['recommend_rps']:.0f} / {c['ping_rps']:.0f} req/s)",
                     "target": ">= 0.8", "pass": c["pass"]})
    if r.get("latency_vs_load"):
        h = r["latency_vs_load"]["half_saturation"]
        rows.append({"name": "p99 at half of saturation, errors", "value": f"{fmt(h and h['p99_ms'], 2)} ms at {h and h['offered_rps']:.0f} req/s, "
                     f"{h and h['errors']} errors (all rates: {r['latency_vs_load']['errors']})" if h else "–",
                     "target": "<= 20 ms, 0", "pass": r["latency_vs_load"]["pass"]})
    if r.get("model_compute"):
        mc = r["model_compute"]
        rows.append({"name": f"model compute per request, {mc['scale']['users']:,} users x {mc['scale']['movies']:,} movies",
                     "value": f"{mc['compute_ms']['known_user_ms']:.4f} ms", "target": "<= 0.5 ms", "pass": mc["pass"]["compute"]})
        rows.append({"name": "replica memory at that scale (steady / after swap)",
                     "value": f"{mc['replica_memory_mb']['steady']:.0f} / {mc['replica_memory_mb']['after_swap']:.0f} MB",
                     "target": "<= 400 MB", "pass": mc["pass"]["memory"]})
    if r.get("swap"):
        s = r["swap"]
        rows.append({"name": "hot swap under load: failed requests", "value": str(s["failed_requests"]), "target": "0",
                     "pass": s["failed_requests"] == 0})
        rows.append({"name": "hot swap: time until every replica serves it", "value": f"{s['time_until_every_replica_serves_it_s']:.3f} s",
                     "target": "<= 2 s", "pass": s["time_until_every_replica_serves_it_s"] <= TARGETS["swap_seconds"]})
    if r.get("scaling"):
        pts = r["scaling"]["points"]
        rows.append({"name": "replica scaling /recommend req/s", "value": ", ".join(f"{p['replicas']}: {p['recommend_rps']:.0f}" for p in pts),
                     "target": "(report)", "pass": None})  # nosec B105  # 'pass' is a result column, not a password
    return rows


# --------------------------------------------------------------------------- main

def main() -> int:
    global ARGS, PROFILE
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short phases, fewer rates, 1 and 2 replicas: about 2 minutes")
    parser.add_argument("--out", help="result directory (default loadtests/results; with --quick loadtests/results/tmp/quick)")
    parser.add_argument("--model-dir", default=str(ROOT / ".run" / "bench" / "model-default"),
                        help="trained model to serve; trained from the default preset when missing")
    parser.add_argument("--replicas", type=int, help="replicas of the main stack (default 2, as make up)")
    parser.add_argument("--workers", type=int, help="gunicorn workers per replica of the main stack (default 2 = cores, as make up)")
    parser.add_argument("--unknown-share", type=float, default=0.05)
    parser.add_argument("--zipf-exponent", type=float, default=1.0)
    parser.add_argument("--skip-compute", action="store_true", help="skip scripts/bench_inference.py")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--profile", action="store_true", help="also profile replica 1 with py-spy (if installed) "
                        "during closed-loop /ping and /recommend; shares of interpreter time go into the summary")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="first wait (at most this long) until the machine used < 0.25 cores for 10 s")
    parser.add_argument("--keep-workdir", action="store_true", help="keep logs, plans and raw locust results")
    parser.add_argument("--render-only", action="store_true", help="rewrite bench.md and the plots from OUT/bench.json")
    ARGS = parser.parse_args()
    PROFILE = QUICK if ARGS.quick else FULL
    if ARGS.replicas or ARGS.workers:
        PROFILE = Profile(**{**PROFILE.__dict__, "replicas": ARGS.replicas or PROFILE.replicas, "workers": ARGS.workers or PROFILE.workers})
    out = Path(ARGS.out) if ARGS.out else ROOT / "loadtests" / "results" / ("tmp/quick" if ARGS.quick else "")
    out.mkdir(parents=True, exist_ok=True)
    if ARGS.render_only:
        results = json.loads((out / "bench.json").read_text())
        results["notes"] = make_notes(results, out)
        results["plots"] = plots(results, out)
        (out / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / "bench.md").write_text(summary_markdown(results))
        say(f"rewritten: {out / 'bench.md'}, {', '.join(results['plots'])}")
        return 0
    if ARGS.wait_quiet:
        used = wait_quiet(ARGS.wait_quiet)
        say(f"machine busy: {used:.2f} cores; starting")
    started = time.monotonic()
    results: dict = {"mode": PROFILE.name, "generated_at": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine_info(),
                     "load_before": machine_load(), "run_settings": PROFILE.__dict__, "targets_definition": TARGETS, "notes": []}
    results["load_before"]["busy_cores_3s"] = round(busy_cores(3), 2)
    if results["load_before"]["busy_cores_3s"] > 0.25:
        say(f"warning: the machine is not quiet: {results['load_before']['busy_cores_3s']} cores busy")

    model_dir = ensure_model(Path(ARGS.model_dir))
    bundle = load_bundle(model_dir)
    known = (int(bundle.table_user_ids.min()), int(bundle.table_user_ids.max()))
    catalog = str(model_dir)
    results["setup"] = {"replicas": PROFILE.replicas, "workers": PROFILE.workers, "threads": 4,
                        "model": "default preset (trainer generate-data + train)", "known_users": int(len(bundle.known_user_ids)),
                        "movies": bundle.n_items, "known_range": f"{known[0]}-{known[1]}", "unknown_share": ARGS.unknown_share,
                        "zipf_exponent": ARGS.zipf_exponent}

    workdir = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / "loadtests" / "results" / "tmp"))
    failed = False
    try:
        say(f"main stack: {PROFILE.replicas} replicas x {PROFILE.workers} workers; work dir {workdir}")
        with BenchStack(workdir / "stack-main", PROFILE.replicas, PROFILE.workers, bundle) as stack:
            say("ceiling: /ping vs /recommend, closed loop")
            results["ceiling"] = ceiling = step_ceiling(stack, workdir, known, catalog)
            say(f"  /ping {ceiling['ping_rps']:.0f}/s, /recommend {ceiling['recommend_rps']:.0f}/s, ratio {ceiling['ratio']:.3f}")
            saturation = ceiling["recommend_rps"]
            say(f"latency vs offered load: {', '.join(f'{f * saturation:.0f}' for f in PROFILE.sweep)} req/s")
            results["latency_vs_load"] = sweep = step_sweep(stack, workdir, known, catalog, saturation)
            for p in sweep["points"]:
                say(f"  {p['offered_rps']:7.0f} offered -> {p['throughput_rps']:7.0f}/s, p50 {fmt(p['p50_ms'], 2)} p95 "
                    f"{fmt(p['p95_ms'], 2)} p99 {fmt(p['p99_ms'], 2)} ms, {p['errors']} errors")
            if ARGS.profile:
                say("profile: py-spy on replica 1 during closed-loop /ping and /recommend")
                results["pyspy"] = step_profile(stack, workdir, known, catalog)
            say("hot swap under load")
            results["swap"] = swap = step_swap(stack, workdir, known, catalog, saturation / 2)
            say(f"  {swap['failed_requests']} failed of {swap['requests']}; every replica on the new version after "
                f"{swap['time_until_every_replica_serves_it_s']:.3f} s (readyz: {swap['readyz_first_new_s']})")
        if not ARGS.skip_scaling:
            results["scaling"] = step_scaling(bundle, workdir, known, catalog)
        if not ARGS.skip_compute:
            say(f"model compute + replica memory: scripts/bench_inference.py at {PROFILE.compute_users:,} users")
            results["model_compute"] = mc = step_compute(workdir)
            say(f"  known user {mc['compute_ms']['known_user_ms']:.4f} ms; replica memory {mc['replica_memory_mb']}")
    except Exception as error:  # report what we have
        failed = True
        results["error"] = f"{error.__class__.__name__}: {error}"
        say(f"FAILED: {results['error']}")
    finally:
        results["load_after"] = machine_load()
        results["duration_s"] = round(time.monotonic() - started, 1)
        results["notes"] = make_notes(results, out)
        results["targets"] = target_rows(results)
        results["plots"] = plots(results, out)
        (out / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
        (out / "bench.md").write_text(summary_markdown(results))
        if ARGS.keep_workdir or failed:
            say(f"work dir kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    for t in results["targets"]:
        say(f"{verdict(t['pass']).strip('*'):5s} {t['name']}: {t['value']} (target {t['target']})")
    say(f"written: {out / 'bench.json'}, {out / 'bench.md'}, {', '.join(results['plots'])} ({results['duration_s']:.0f} s)")
    return 1 if failed else 0


ARGS = None
PROFILE = FULL

if __name__ == "__main__":
    sys.exit(main())
