"""Does the online evaluation tell the truth? (`make online-truth`; issue "Provenance and online
evaluation", acceptance.)

    .venv/bin/python -m loadtests.online_truth [--sessions 600] [--rate 10] [--speed 60] [--out DIR]

On its own stack (harness.stack.Stack: redis, the broker, 2 replicas recording served answers,
nginx, the evaluator; free loopback ports) three versions serve one after another, each for the
same number of simulated sessions (the simulator, `default` world, a new run seed and a later
simulated start each time):

1. popularity: every user gets the 20 most popular movies;
2. random: every user gets 20 random movies (a deliberately weak model);
3. model: the `default` preset's trained model.

Then it compares, per version, the evaluator's hit rate (every answer, `all`) and its 95% interval
with the simulator's own count (its truth report: answers followed by a watch of a listed movie
within 30 simulated minutes), and the order of the three.

Freshness: with the simulator at about 1,000 events/s, probes put a recommendation line without a
served record (so counted under "unattributed", which only the probes use) and then a watch of a
listed movie into the topic; the time from the watch line's delivery to `online_hits_total` showing
it on the evaluator's /metrics.

Faults: the broker stopped for 30 s under /recommend traffic: failed requests (must be 0) and the
served records counted as lost.

Provenance: a random answer from the simulator's answer log (SIM_ANSWER_LOG: wall time, user,
X-Model-Version): `trainer provenance --user U --at T` must name the same version.

Writes online-truth.json (every figure) and online-truth.png (`trainer online-report --plot`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from confluent_kafka import Producer

from common.weightcache import WeightStore
from harness.loop import RequestLoop
from harness.paths import ROOT, VENV_BIN
from harness.stack import Stack, clean_environment
from harness.waiting import http_get, wait_until
from loadtests.bench_machine import ensure_model, load_bundle
from loadtests.bench_stack import served_record_counts

RESULTS = ROOT / "loadtests" / "results"
TRAINER = str(VENV_BIN / "trainer")


def say(message: str) -> None:
    print(f"[online-truth {time.strftime('%H:%M:%S')}] {message}", flush=True)


def popularity_arrays(bundle) -> dict:
    arrays = dict(bundle.to_arrays())
    k = arrays["known_topk"].shape[1]
    arrays["known_topk"] = np.tile(arrays["popular"][:k].astype(np.int32), (len(arrays["known_user_ids"]), 1))
    arrays["cold_start_blend"] = np.zeros(1, dtype=np.float32)
    return arrays


def random_arrays(bundle, seed: int = 7) -> dict:
    arrays = dict(bundle.to_arrays())
    rng = np.random.default_rng(seed)
    n_known, k = arrays["known_topk"].shape
    arrays["known_topk"] = np.argsort(rng.random((n_known, bundle.n_items)), axis=1)[:, :k].astype(np.int32)
    arrays["popular"] = rng.permutation(bundle.n_items).astype(np.int32)[: len(arrays["popular"])]
    arrays["cold_start_blend"] = np.zeros(1, dtype=np.float32)
    return arrays


def metric(stack: Stack, name: str, **labels) -> float:
    _, body, _ = http_get(f"http://127.0.0.1:{stack.settings.online_metrics_port}/metrics", timeout=5)
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}" if labels else "")
    for line in body.splitlines():
        if line.startswith(wanted + " "):
            return float(line.split()[-1])
    return 0.0


def report(stack: Stack) -> dict:
    try:
        return json.loads((stack.settings.data_dir / "online" / "report.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def simulate(stack: Stack, workdir: Path, name: str, seconds: float, rate: float, speed: float, seed: int,
             start: str) -> dict:
    truth = workdir / f"truth-{name}.json"
    env = clean_environment(**stack.settings.service_env(), SIM_DURATION=str(seconds), SIM_RATE=str(rate),
                            SIM_SPEED=str(speed), SIM_RUN_SEED=str(seed), SIM_START=start,
                            SIM_TRUTH_JSON=str(truth), SIM_ANSWER_LOG=str(workdir / "answers.jsonl"))
    out = subprocess.run([str(VENV_BIN / "simulator")], env=env, capture_output=True, text=True,  # nosec B603  # the venv's simulator
                         timeout=seconds + 300)
    if out.returncode != 0:
        raise RuntimeError(f"simulator failed:\n{out.stderr[-3000:]}")
    return json.loads(truth.read_text())


def applied_events(stack: Stack) -> int:
    counts = report(stack).get("counts", {})
    return sum(counts.get(k, 0) for k in ("watch", "rate", "recommendation", "account"))


def phases(stack: Stack, workdir: Path, bundle, args) -> tuple[dict, dict]:
    store = WeightStore(stack.admin(), prefix=stack.settings.prefix)
    seconds = args.sessions / args.rate
    start = dt.datetime(2024, 1, 1)
    truths, names, sent = {}, {}, 0
    for seed, (name, arrays) in enumerate((("popularity", popularity_arrays(bundle)), ("random", random_arrays(bundle)),
                                           ("model", bundle.to_arrays())), start=1):
        if name == "model":   # through the trainer, so that its manifest carries its provenance
            out = subprocess.run([TRAINER, "publish", "--model-dir", args.model_dir], env=stack.env(FORCE_PUBLISH="1"),  # nosec B603  # the venv's own programs, argv built here
                                 capture_output=True, text=True, timeout=300)
            if out.returncode != 0:
                raise RuntimeError(f"trainer publish failed: {out.stderr[-2000:]}")
            version = store.current_version()
        else:
            version = store.publish(arrays, metadata={"note": f"online-truth: {name}"})
        stack.wait_ready(version, timeout=60)
        names[version] = name
        say(f"{name}: {version} serving; simulating {args.sessions} sessions ({seconds:.0f} s at {args.rate:g}/s, {args.speed:g}x)")
        truth = simulate(stack, workdir, name, seconds, args.rate, args.speed, seed, start.isoformat())
        truths[name] = truth["versions"].get(version, {})
        sent += sum(truth["events"].values()) - truth["corrupted_total"]
        say(f"  truth: {truths[name].get('answered')} answered, followed share {truths[name].get('followed_share')}")
        start += dt.timedelta(seconds=seconds * args.speed + 4 * 3600)   # the next run later in simulated time
    wait_until(lambda: applied_events(stack) >= sent, 180, f"the evaluator applying all {sent} valid lines", interval=1)
    time.sleep(3)
    online = report(stack)["versions"]
    return {name: truths[name] for name in truths}, {names[v]: online[v]["all"] for v in names if v in online}, version


def compare(truths: dict, online: dict) -> dict:
    rows = {}
    for name, truth in truths.items():
        figures = online.get(name, {})
        low, high = figures.get("hit_rate_ci") or (None, None)
        share = truth.get("followed_share")
        rows[name] = {"truth_followed_share": share, "truth_answered": truth.get("answered"),
                      "truth_mean_rank": truth.get("mean_rank"), "online_hit_rate": figures.get("hit_rate"),
                      "online_interval": [low, high], "online_answers": figures.get("answers"),
                      "online_mean_rank": figures.get("mean_rank"),
                      "truth_within_interval": share is not None and low is not None and low <= share <= high}
    by_truth = sorted(rows, key=lambda n: rows[n]["truth_followed_share"] or 0)
    by_online = sorted(rows, key=lambda n: rows[n]["online_hit_rate"] or 0)
    return {"versions": rows, "order_truth": by_truth, "order_online": by_online, "same_order": by_truth == by_online,
            "all_within": all(r["truth_within_interval"] for r in rows.values())}


def freshness(stack: Stack, workdir: Path, args) -> dict:
    """Probes while the simulator sends about 1,000 events/s."""
    env = clean_environment(**stack.settings.service_env(), SIM_DURATION=str(args.fresh_seconds), SIM_RATE=str(args.fresh_rate),
                            SIM_SPEED=str(args.speed), SIM_RUN_SEED="99", SIM_START="2024-03-01T00:00:00",  # sim_start below
                            SIM_TRUTH_JSON=str(workdir / "truth-fresh.json"))
    sim_start = dt.datetime(2024, 3, 1)
    launched = time.monotonic()
    sim = subprocess.Popen([str(VENV_BIN / "simulator")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # nosec B603  # the venv's own programs, argv built here
    producer = Producer({"bootstrap.servers": stack.settings.bootstrap, "linger.ms": 0})
    latencies, rates, missed = [], [], []
    try:
        time.sleep(15)   # the stream at full rate, the evaluator caught up
        before_events, t_before = sum(metric(stack, "online_events_total", kind=k) for k in ("watch", "rate", "recommendation")), time.time()
        for probe in range(args.probes):
            # The simulator's clock now, a little ahead (it started after building its world): the
            # probe is not late against the events of its partition.
            at = sim_start + dt.timedelta(seconds=(time.monotonic() - launched) * args.speed)
            user = 900_000_000 + probe
            stamp = at.strftime("%Y-%m-%dT%H:%M:%S")
            producer.produce(stack.settings.topic, f"{stamp}.000,{user},recommendation request probe, status 200, result: "
                                                   f"probe+a+2000, probe+b+2000, 5 ms".encode(), key=str(user).encode())
            hits = metric(stack, "online_hits_total", version="unattributed")
            watched = (at + dt.timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S")
            delivered: dict = {}
            producer.produce(stack.settings.topic, f"{watched},{user},GET /data/m/probe+b+2000/1.mpg".encode(),
                             key=str(user).encode(), on_delivery=lambda e, m: delivered.setdefault("t", time.time()))
            producer.flush(10)
            try:
                seen = wait_until(lambda: metric(stack, "online_hits_total", version="unattributed") > hits and time.time(),
                                  90, "the probe's hit on /metrics", interval=0.2)
            except TimeoutError:
                missed.append({"probe": probe, "event_time": stamp, "watermark_now": metric(stack, "online_watermark_timestamp_seconds"),
                               "late": {k: metric(stack, "online_late_events_total", kind=k) for k in ("watch", "recommendation")},
                               "lag": metric(stack, "online_consumer_lag_messages", topic=stack.settings.topic)})
                say(f"  probe {probe + 1}: not on /metrics within 90 s: {missed[-1]}")
                continue
            latencies.append(round(seen - delivered["t"], 2))
            say(f"  probe {probe + 1}: hit on /metrics {latencies[-1]} s after the watch line entered the topic")
            time.sleep(2)
        after_events = sum(metric(stack, "online_events_total", kind=k) for k in ("watch", "rate", "recommendation"))
        rates.append(round((after_events - before_events) / (time.time() - t_before)))
    finally:
        sim.terminate()
        sim.wait(60)
    return {"events_per_second": rates[0] if rates else None, "probe_latency_s": latencies, "missed": missed,
            "max_s": max(latencies) if latencies else None, "target_s": 60,
            "pass": bool(latencies) and not missed and max(latencies) <= 60}


def broker_outage(stack: Stack, seconds: float = 30.0) -> dict:
    """The broker stopped for `seconds` under steady /recommend traffic: failed requests, and the
    records the replicas counted as lost (SERVED_TIMEOUT, 10 s: the first 20 s of the outage)."""
    before = served_record_counts(stack.replicas)
    broker = stack.processes["broker"]
    with RequestLoop(stack.url, range(1, 6001), clients=4, pause=0.01) as loop:
        loop.wait_for(200, timeout=30)
        broker.stop()
        stopped = time.monotonic()
        time.sleep(seconds)
        broker.start()
        outage = time.monotonic() - stopped
        time.sleep(20)   # librdkafka reconnects; what waited less than SERVED_TIMEOUT is delivered
    after = served_record_counts(stack.replicas)
    change = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
    settled = change.get("delivered", 0) + change.get("lost", 0) + change.get("dropped", 0)
    return {"outage_s": round(outage, 1), "requests": len(loop.outcomes), "failed": len(loop.failures),
            "records": change, "every_record_accounted": settled >= change.get("queued", 0) - 50,
            "pass": not loop.failures and change.get("lost", 0) + change.get("dropped", 0) > 0}


def provenance(stack: Stack, workdir: Path, version: str) -> dict:
    """A random answer of the trained version (the other two were published by this script,
    without training data to name)."""
    answers = [json.loads(line) for line in (workdir / "answers.jsonl").read_text().splitlines()]
    answered = [a for a in answers if a["status"] == 200 and a["version"] == version]
    pick = random.Random(5).choice(answered)  # nosec B311  # choosing a sample, not security
    at = dt.datetime.fromtimestamp(pick["wall_time"] + 0.5, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
    out = subprocess.run([TRAINER, "provenance", "--user", str(pick["user_id"]), "--at", at], env=stack.env(),  # nosec B603  # the venv's own programs, argv built here
                         capture_output=True, text=True, timeout=120)
    named = re.search(r"answered by (\S+)", out.stdout)
    window = re.search(r"events (\S+) \.\. (\S+),", out.stdout)
    return {"answer": pick, "command": f"trainer provenance --user {pick['user_id']} --at {at}",
            "named_version": named.group(1) if named else None, "data_window": list(window.groups()) if window else None,
            "output": out.stdout[-1500:] + out.stderr[-500:],
            "pass": out.returncode == 0 and named is not None and named.group(1) == pick["version"] and window is not None
                    and "None" not in window.groups()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=600, help="simulated sessions per version")
    parser.add_argument("--rate", type=float, default=10.0, help="sessions per second")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    parser.add_argument("--fresh-rate", type=float, default=33.0, help="sessions/s of the freshness run (about 1,000 events/s)")
    parser.add_argument("--fresh-seconds", type=float, default=90.0)
    parser.add_argument("--probes", type=int, default=8)
    parser.add_argument("--only-freshness", action="store_true", help="just the freshness probes (nothing written)")
    parser.add_argument("--model-dir", default=str(ROOT / ".run" / "bench" / "model-default"))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bundle = load_bundle(ensure_model(Path(args.model_dir)))
    workdir = Path(tempfile.mkdtemp(prefix="online-truth-"))
    stack = Stack(workdir / "stack", replicas=2, kinds=("redis", "broker", "inference", "nginx", "evaluator"),
                  preset="default", extra_env={"ONLINE_COMMIT_SECONDS": "2"})
    results: dict = {"generated_at": time.strftime("%Y-%m-%d %H:%M:%S %z"), "settings": vars(args)}
    try:
        stack.start()
        if args.only_freshness:
            WeightStore(stack.admin(), prefix=stack.settings.prefix).publish(bundle.to_arrays())
            stack.wait_ready(timeout=60)
            results["freshness"] = freshness(stack, workdir, args)
            return 0 if results["freshness"]["pass"] else 1
        truths, online, model_version = phases(stack, workdir, bundle, args)
        results["truth"] = {**compare(truths, online), "model_version": model_version}
        say(f"{'version':<11} {'truth':>7} {'online':>7} {'95% interval':>15} {'answers':>8} {'within':>7}")
        for name, row in results["truth"]["versions"].items():
            low, high = row["online_interval"]
            say(f"{name:<11} {row['truth_followed_share']:>7.3f} {row['online_hit_rate']:>7.3f} "
                f"{f'{low:.3f}-{high:.3f}':>15} {row['online_answers']:>8} {str(row['truth_within_interval']):>7}")
        say(f"order by truth {results['truth']['order_truth']}, online {results['truth']['order_online']}")
        results["provenance"] = provenance(stack, workdir, results["truth"]["model_version"])
        say(f"provenance of a random simulator answer: {results['provenance']['command']} -> "
            f"{results['provenance']['named_version']} (header {results['provenance']['answer']['version']}), trained on "
            f"events {results['provenance']['data_window']}")
        subprocess.run([TRAINER, "online-report", "--state-dir", str(stack.settings.data_dir / "online"), "--window", "all",  # nosec B603  # the venv's own programs, argv built here
                        "--plot", str(out / "online-truth.png")], env=stack.env(), check=False)
        say(f"freshness: {args.probes} probes at about 1,000 events/s")
        results["freshness"] = freshness(stack, workdir, args)
        say(f"  {results['freshness']['events_per_second']} events/s applied; probe latency max {results['freshness']['max_s']} s")
        say("the broker stopped for 30 s under /recommend traffic")
        results["broker_outage"] = outage = broker_outage(stack)
        say(f"  {outage['failed']} failed of {outage['requests']} requests; records {outage['records']}")
    finally:
        stack.close()
    (out / "online-truth.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    ok = results["truth"]["same_order"] and results["truth"]["all_within"] and results["provenance"]["pass"] \
        and results["freshness"]["pass"] and results["broker_outage"]["pass"]
    say(f"{'PASS' if ok else 'FAIL'}: written {out / 'online-truth.json'}, {out / 'online-truth.png'} (work dir {workdir})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
