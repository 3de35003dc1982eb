"""The benchmark's measurements, each a function of the run (loadtests.bench_config.Run) and a
stack: ceiling ratio, latency vs offered load, hot swap under load, replica scaling, a py-spy
profile, model compute and memory at course scale (scripts/bench_inference.py). Each returns the
dict that goes into bench.json under its key."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time

import numpy as np

from harness.paths import ROOT, VENV_BIN
from harness.processes import process_tree
from harness.stack import Stack
from harness.waiting import wait_until
from loadtests.bench_config import TARGETS, Run, say
from loadtests.bench_stack import BenchStack, phase_stats, run_locust, served_record_counts


def closed_phase(name: str, path: str, seconds: float) -> dict:
    """A closed-loop phase: every user sends its next request as soon as it has the answer."""
    return {"name": name, "path": path, "rate": 0, "duration": seconds}


def step_ceiling(run: Run, stack: BenchStack) -> dict:
    p = run.profile
    phases = [closed_phase(f"{path}-{r}", path, p.ceiling_s) for r in range(p.ceiling_rounds) for path in ("ping", "recommend")]
    result = run_locust(run, stack, phases, p.closed_users, "ceiling")
    stats = {phase["name"]: phase_stats(phase) for phase in result["phases"]}
    rounds = [{"ping_rps": stats[f"ping-{r}"]["throughput_rps"], "recommend_rps": stats[f"recommend-{r}"]["throughput_rps"],
               "ratio": round(stats[f"recommend-{r}"]["throughput_rps"] / max(1e-9, stats[f"ping-{r}"]["throughput_rps"]), 3)}
              for r in range(p.ceiling_rounds)]
    ping = sum(r["ping_rps"] for r in rounds) / len(rounds)
    recommend = sum(r["recommend_rps"] for r in rounds) / len(rounds)
    ratio = recommend / max(1e-9, ping)  # of the totals; the per-round ratios show the spread
    return {"closed_loop_users": p.closed_users, "phase_seconds": p.ceiling_s, "rounds": rounds,
            "ping_rps": round(ping, 1), "recommend_rps": round(recommend, 1), "ratio": round(ratio, 3),
            "target": TARGETS["ceiling_ratio"], "pass": ratio >= TARGETS["ceiling_ratio"], "phases": stats}


def step_sweep(run: Run, stack: BenchStack, saturation: float) -> dict:
    p = run.profile
    phases = [{"name": f"rate-{f:g}", "path": "recommend", "rate": round(f * saturation, 1), "duration": p.sweep_s}
              for f in p.sweep]
    result = run_locust(run, stack, phases, p.open_users, "sweep")
    points = []
    for fraction, phase in zip(p.sweep, result["phases"]):
        stats = phase_stats(phase)
        stats["fraction_of_saturation"] = fraction
        points.append(stats)
    half = next((point for point in points if point["fraction_of_saturation"] == 0.5), None)
    ok = bool(half) and half["p99_ms"] is not None and half["p99_ms"] <= TARGETS["p99_at_half_saturation_ms"] and half["errors"] == 0
    return {"open_loop_users": p.open_users, "phase_seconds": p.sweep_s, "saturation_rps": round(saturation, 1),
            "points": points, "half_saturation": half, "target_p99_ms": TARGETS["p99_at_half_saturation_ms"], "pass": ok,
            "errors": sum(point["errors"] for point in points)}


def step_records(run: Run, bundle) -> dict:
    """Served records (provenance, inference/records.py) on vs off, in one run: one broker, two
    stacks alike but for KAFKA_BOOTSTRAP_SERVERS, measured in turn (off, on, off, on, ...): the
    ceiling ratio of each, and p99 of each at half of the off stack's saturation."""
    p = run.profile
    broker = Stack(run.workdir / "records-broker", kinds=("broker",)).start()
    try:
        with BenchStack(run.workdir / "records-off", p.replicas, p.workers, bundle) as off, \
                BenchStack(run.workdir / "records-on", p.replicas, p.workers, bundle, kafka=broker.settings.bootstrap) as on:
            arms = {"off": off, "on": on}
            ceilings: dict[str, list] = {"off": [], "on": []}
            halves: dict[str, list] = {"off": [], "on": []}
            for r in range(p.records_rounds):
                for name, stack in arms.items():
                    ceilings[name].append(step_ceiling(run, stack))
                saturation = sum(c["recommend_rps"] for c in ceilings["off"]) / len(ceilings["off"])
                for name, stack in arms.items():
                    phase = [{"name": f"half-{name}-{r}", "path": "recommend", "rate": round(saturation / 2, 1), "duration": p.sweep_s * 2}]
                    halves[name].append(phase_stats(run_locust(run, stack, phase, p.open_users, f"records-{name}-{r}")["phases"][0]))
            records = served_record_counts(on.stack.replicas)
    finally:
        broker.close()

    def arm(name: str) -> dict:
        ratio = sum(c["recommend_rps"] for c in ceilings[name]) / sum(c["ping_rps"] for c in ceilings[name])
        p99s = [h["p99_ms"] for h in halves[name] if h["p99_ms"] is not None]
        return {"ratio": round(ratio, 3), "recommend_rps": round(sum(c["recommend_rps"] for c in ceilings[name]) / len(ceilings[name]), 1),
                "p99_half_ms": round(float(np.median(p99s)), 3) if p99s else None, "p99_half_rounds_ms": p99s,
                "errors": sum(h["errors"] for h in halves[name]), "half_rate_rps": halves[name][0].get("offered_rps")}

    result = {"off": arm("off"), "on": arm("on"), "rounds": p.records_rounds, "records": records}
    ratio_change = result["on"]["ratio"] / result["off"]["ratio"] - 1
    p99_change = (result["on"]["p99_half_ms"] / result["off"]["p99_half_ms"] - 1) if result["off"]["p99_half_ms"] else None
    result.update(ratio_change=round(ratio_change, 4), p99_change=None if p99_change is None else round(p99_change, 4),
                  target=TARGETS["records_cost"],
                  pass_=ratio_change >= -TARGETS["records_cost"] and p99_change is not None and p99_change <= TARGETS["records_cost"]
                  and result["on"]["errors"] == 0)
    result["pass"] = result.pop("pass_")
    return result


def step_swap(run: Run, stack: BenchStack, rate: float) -> dict:
    """A new version published at `rate` (open loop): failures, and when every replica serves it."""
    p = run.profile
    new_arrays = dict(stack.bundle.to_arrays())
    new_arrays["item_biases"] = new_arrays["item_biases"] + np.float32(1e-3)  # a different version, same answers
    replicas = stack.stack.replicas
    record: dict = {}

    def publish_during(started: dict) -> None:
        time.sleep(max(0.0, started["phases"][0][1] + p.swap_at - time.time()))
        stop = threading.Event()
        first_new: dict[str, float] = {}
        store = stack.store()
        pubsub = store.subscribe()  # the notification marks the moment the pointer moved

        def listen() -> None:
            while not stop.is_set() and "pointer_moved" not in record:
                message = pubsub.get_message(timeout=0.1)
                if message and message.get("type") == "message":
                    record["pointer_moved"] = time.time()
                    record["notified_version"] = message["data"].decode()

        def poll_readyz() -> None:  # each replica's own /readyz, not through nginx
            while not stop.is_set():
                for replica in replicas:
                    if replica.name not in first_new:
                        status, body = replica.readyz()
                        if status == 200 and body != stack.version:
                            first_new[replica.name] = time.time()
                time.sleep(0.005)

        threads = [threading.Thread(target=listen, daemon=True), threading.Thread(target=poll_readyz, daemon=True)]
        for thread in threads:
            thread.start()
        record["publish_started"] = time.time()
        record["version"] = store.publish(new_arrays)
        record["published"] = time.time()
        try:
            wait_until(lambda: len(first_new) == len(replicas), 10, "every replica's /readyz on the new version", interval=0.01)
        except TimeoutError:
            pass  # reported: readyz_first_new_s lists the replicas that got there, and the swap does not pass
        stop.set()
        for thread in threads:
            thread.join(2)
        pubsub.close()
        record["readyz_first_new"] = first_new

    phase = {"name": "swap", "path": "recommend", "rate": round(rate, 1), "duration": p.swap_s, "record_versions": True}
    raw = run_locust(run, stack, [phase], p.open_users, "swap", during=publish_during)["phases"][0]
    stats = phase_stats(raw)
    figures = swap_figures(raw, record, stack.version)
    return {"offered_rps": round(rate, 1), "phase_seconds": p.swap_s, **figures,
            "failed_requests": stats["errors"], "requests": stats["requests"], "stats": stats,
            "timeline": swap_timeline(raw, record["version"]),
            "pass": stats["errors"] == TARGETS["swap_failures"]
                    and figures["time_until_every_replica_serves_it_s"] <= TARGETS["swap_seconds"]
                    and len(figures["readyz_first_new_s"]) == len(replicas)}


def swap_figures(raw: dict, record: dict, old: str) -> dict:
    """When the versions changed hands, from the answers' (sent, answered, version, replica, ok)."""
    new = record["version"]
    moved = record.get("pointer_moved", record["published"])  # pointer moved + PUBLISH sent, seen by a subscriber
    old_after = [r for r in raw["versions"] if r[2] == old and r[0] >= moved]  # old answers to requests sent after the move
    # Conservative: the last answer from the old version at all (also to requests sent before the pointer moved,
    # still in flight), relative to the moment our own subscriber saw the notification (replicas may see it earlier).
    last_old_answer = max((r[1] for r in raw["versions"] if r[2] == old), default=moved)
    first_new_answer = min((r[1] for r in raw["versions"] if r[2] == new), default=None)
    return {"old_version": old, "new_version": new,
            "publish_seconds": round(record["published"] - record["publish_started"], 3),
            "pointer_moved_after_publish_start_s": round(moved - record["publish_started"], 3),
            "published_at_s": round(moved - raw["start"], 3),
            "first_new_answer_after_publish_s": round(first_new_answer - moved, 3) if first_new_answer else None,
            "old_answers_after_publish": len(old_after),
            "mixed_versions_window_s": round(max(0.0, last_old_answer - first_new_answer), 3) if first_new_answer else None,
            "time_until_every_replica_serves_it_s": round(max(0.0, last_old_answer - moved), 3),
            "readyz_first_new_s": {name: round(t - moved, 3) for name, t in record["readyz_first_new"].items()},
            "replicas_answering_new": sorted({r[3] for r in raw["versions"] if r[2] == new})}


def swap_timeline(raw: dict, new: str) -> dict:
    """For the plot: answers per 100 ms by version (old, new) and the failed ones."""
    bins = int(np.ceil(raw["duration"] * 10)) + 5
    timeline = {"bin_s": 0.1, "old": [0] * bins, "new": [0] * bins, "failed": [0] * bins}
    for _sent, answered, version, _replica, ok in raw["versions"]:
        index = min(bins - 1, max(0, int((answered - raw["start"]) * 10)))
        timeline["failed" if not ok else ("new" if version == new else "old")][index] += 1
    return timeline


def step_scaling(run: Run, bundle) -> dict:
    p = run.profile
    points = []
    for replicas in p.scaling:
        say(f"scaling: {replicas} replica(s) x {p.scaling_workers} worker(s)")
        with BenchStack(run.workdir / f"stack-{replicas}", replicas, p.scaling_workers, bundle) as stack:
            phases = [closed_phase("recommend", "recommend", p.scaling_s), closed_phase("ping", "ping", p.scaling_s)]
            result = run_locust(run, stack, phases, p.closed_users, f"scaling-{replicas}")
        stats = {phase["name"]: phase_stats(phase) for phase in result["phases"]}
        points.append({"replicas": replicas, "workers_per_replica": p.scaling_workers,
                       "recommend_rps": stats["recommend"]["throughput_rps"], "ping_rps": stats["ping"]["throughput_rps"],
                       "recommend": stats["recommend"], "ping": stats["ping"]})
        say(f"  /recommend {stats['recommend']['throughput_rps']:.0f}/s, /ping {stats['ping']['throughput_rps']:.0f}/s, "
            f"cores: {stats['recommend']['cpu_cores']}")
    return {"closed_loop_users": p.closed_users, "phase_seconds": p.scaling_s, "points": points}


PROFILE_CATEGORIES = (  # a sample goes to the first category one of whose markers is anywhere in its stack
    ("model watcher thread", ("inference/watcher.py", "inference/source.py")),  # source: if the watcher is renamed
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
        name = next((category for category, markers in PROFILE_CATEGORIES if any(m in stack for m in markers)),
                    "other (watcher thread, interpreter)")
        counts[name] = counts.get(name, 0) + int(n)
    return {"samples": total, "shares": {k: round(v / total, 4) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}} if total else {}


def step_profile(run: Run, stack: BenchStack) -> dict:
    """py-spy (--gil: what holds the interpreter) on replica 1's workers during closed-loop /ping and /recommend."""
    pyspy = shutil.which("py-spy", path=str(VENV_BIN)) or shutil.which("py-spy")
    if not pyspy:
        return {"skipped": "py-spy is not installed (.venv/bin/pip install py-spy)"}
    workers = process_tree(stack.stack.replicas[0].pid)[1:]
    seconds = max(3, int(run.profile.ceiling_s))
    phases = [closed_phase("ping", "ping", seconds + 1.5), closed_phase("recommend", "recommend", seconds + 1.5)]

    def record(info: dict) -> None:
        for name, start, _end in info["phases"]:
            time.sleep(max(0.0, start + 0.5 - time.time()))
            procs = [subprocess.Popen([pyspy, "record", "-p", str(pid), "-d", str(seconds), "-r", "500", "--gil", "--nonblocking",  # nosec B603  # py-spy from the venv, fixed arguments
                                       "--format", "raw", "-o", str(run.workdir / f"profile-{name}-{pid}.txt")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for pid in workers]
            for proc in procs:
                proc.wait(seconds + 30)

    result = run_locust(run, stack, phases, run.profile.closed_users, "profile", during=record)
    out = {"tool": f"py-spy record --gil -r 500 on the {len(workers)} workers of inference-1", "phases": {}}
    for phase in result["phases"]:
        lines = [line for f in sorted(run.workdir.glob(f"profile-{phase['name']}-*.txt")) for line in f.read_text().splitlines()]
        stats = phase_stats(phase)
        out["phases"][phase["name"]] = dict(categorize(lines), throughput_rps=stats["throughput_rps"],
                                            cpu_us_per_request=stats["cpu_us_per_request"])
    return out


def step_compute(run: Run) -> dict:
    p = run.profile
    out = run.workdir / "inference-bench.json"
    args = ["--users", str(p.compute_users), "--movies", str(p.compute_movies), "--repeats", str(p.compute_repeats)]
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
