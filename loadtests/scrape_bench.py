"""What monitoring costs the service (issue #13 acceptance): how long a scrape of one replica's
/metrics takes at the 1,000,000-user model, and what Prometheus scraping every 5 s costs `make
bench`'s ceiling throughput, with and without Prometheus in one run.

    .venv/bin/python -m loadtests.scrape_bench [--users 1000000] [--rounds 2] [--json PATH]

The stack is make bench's main one (loadtests/bench_stack.py BenchStack: 2 replicas x 2 workers,
nginx, redis) serving a synthetic bundle of 1,000,000 known users x 27,000 movies (built as
scripts/bench_inference.py does). Figures:

- scrape time: 100 sequential GETs of each replica's /metrics with the stack idle (p50 / p99 /
  max), and Prometheus's own `scrape_duration_seconds` of the replicas while the ceiling load
  runs (max over the "on" rounds); target: at most 20 ms.
- cost: make bench's ceiling step (bench_steps.step_ceiling: closed loop, /ping then /recommend)
  in alternating rounds without and with Prometheus (`make up`'s program and configuration:
  SCRAPE_INTERVAL 5 s, the production rules evaluated every 5 s) running beside the stack on the
  same cores; cost = 1 - (recommend rps with) / (recommend rps without); target: under 2%.
  Prometheus is started before each "on" round (its start-up is not counted) and stopped after.

On a machine shared with other work the throughput difference is within the noise of the rounds
(their spread is printed): such figures are provisional; rerun on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from harness.paths import ROOT, VENV_BIN
from harness.promapi import Prometheus
from harness.stack import StackProcess, clean_environment
from harness.stackdef import programs
from harness.waiting import http_get, wait_until
from loadtests.bench_config import FULL, Run, say
from loadtests.bench_stack import BenchStack
from loadtests.bench_steps import step_ceiling

sys.path.insert(0, str(ROOT / "scripts"))
from bench_inference import build_bundle  # noqa: E402  # scripts/ is not a package

SCRAPE_TARGET_MS, COST_TARGET = 20.0, 0.02


def scrape_times(port: int, count: int = 100) -> dict:
    """`count` sequential GETs of one replica's /metrics: milliseconds, and the body's size."""
    times, size = [], 0
    for _ in range(count):
        started = time.perf_counter()
        status, body, _ = http_get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        times.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise RuntimeError(f"GET :{port}/metrics -> {status}")
        size = len(body)
    t = np.asarray(times)
    return {"p50_ms": round(float(np.percentile(t, 50)), 2), "p99_ms": round(float(np.percentile(t, 99)), 2),
            "max_ms": round(float(t.max()), 2), "bytes": size, "count": count}


class Scraping:
    """make up's Prometheus program beside the bench stack (its files are written by Stack.start:
    the run dir's monitoring/prometheus.yml, file-based targets, the production rules)."""

    def __init__(self, stack: BenchStack):
        settings = stack.stack.settings
        program = next(p for p in programs(settings) if p.kind == "prometheus")
        self.interval = settings.scrape_interval
        self.process = StackProcess(program, clean_environment(PATH=f"{VENV_BIN}:/usr/bin:/bin"), settings.logs)
        self.api = Prometheus(settings.prometheus_port)

    def __enter__(self) -> "Scraping":
        self.process.start(timeout=60)
        wait_until(lambda: http_get(self.process.program.ready_url, timeout=1)[0] == 200, 60, "Prometheus ready")
        wait_until(lambda: self.api.targets_up("inference") and all(self.api.targets_up("inference")), 30,
                   "Prometheus scraping both replicas", interval=0.5)
        return self

    def __exit__(self, *exc) -> None:
        self.process.stop()

    def scrape_ms(self, seconds: float) -> dict:
        """Prometheus's scrape durations of the replicas over the last `seconds` (ms)."""
        window = f"{max(int(seconds), self.interval)}s"
        top = self.api.query(f'max(max_over_time(scrape_duration_seconds{{job="inference"}}[{window}]))')
        mean = self.api.query(f'avg(avg_over_time(scrape_duration_seconds{{job="inference"}}[{window}]))')
        samples = self.api.query(f'sum(count_over_time(scrape_duration_seconds{{job="inference"}}[{window}]))')
        return {"max_ms": round(float(top[0]["value"][1]) * 1000, 2), "mean_ms": round(float(mean[0]["value"][1]) * 1000, 2),
                "scrapes": int(float(samples[0]["value"][1]))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--movies", type=int, default=27_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2, help="pairs of ceiling steps (without, with Prometheus)")
    parser.add_argument("--json", default=str(ROOT / "loadtests/results/scrape-bench.json"))
    args = parser.parse_args(argv)
    profile = replace(FULL, ceiling_rounds=2)
    say(f"building a bundle: {args.users:,} known users, {args.movies:,} movies, {args.dim} dimensions")
    bundle = build_bundle(args.users, args.movies, args.dim, seed=0)
    with tempfile.TemporaryDirectory(prefix="scrape-bench-") as tmp:
        workdir = Path(tmp)
        np.save(workdir / "movie_ids.npy", bundle.movie_ids)
        run = Run(profile, workdir, (1, args.users), str(workdir / "movie_ids.npy"))
        with BenchStack(workdir / "stack", profile.replicas, profile.workers, bundle) as stack:
            say(f"stack ready: {profile.replicas} replicas x {profile.workers} workers")
            idle = {r.name: scrape_times(r.port) for r in stack.stack.replicas}
            for name, t in idle.items():
                say(f"scrape of {name} (idle): p50 {t['p50_ms']} ms, p99 {t['p99_ms']} ms, max {t['max_ms']} ms, {t['bytes']:,} bytes")
            ceilings: dict[str, list] = {"off": [], "on": []}
            under_load = []
            for r in range(args.rounds):
                ceilings["off"].append(step_ceiling(run, stack))
                say(f"round {r + 1} without Prometheus: {ceilings['off'][-1]['recommend_rps']} recommend/s, "
                    f"{ceilings['off'][-1]['ping_rps']} ping/s")
                with Scraping(stack) as prometheus:
                    started = time.monotonic()
                    ceilings["on"].append(step_ceiling(run, stack))
                    under_load.append(prometheus.scrape_ms(time.monotonic() - started))
                say(f"round {r + 1} with Prometheus:    {ceilings['on'][-1]['recommend_rps']} recommend/s, "
                    f"{ceilings['on'][-1]['ping_rps']} ping/s; its scrapes of the replicas: {under_load[-1]}")

    def mean(arm: str, key: str) -> float:
        return sum(c[key] for c in ceilings[arm]) / len(ceilings[arm])

    cost = 1 - mean("on", "recommend_rps") / mean("off", "recommend_rps")
    spread = [round(c["recommend_rps"], 1) for c in ceilings["off"]], [round(c["recommend_rps"], 1) for c in ceilings["on"]]
    scrape_max = max([t["max_ms"] for t in idle.values()] + [u["max_ms"] for u in under_load])
    result = {"scale": {"users": args.users, "movies": args.movies, "dim": args.dim,
                        "replicas": profile.replicas, "workers": profile.workers},
              "scrape_idle": idle, "scrape_under_load": under_load, "scrape_max_ms": scrape_max,
              "scrape_target_ms": SCRAPE_TARGET_MS, "scrape_pass": scrape_max <= SCRAPE_TARGET_MS,
              "recommend_rps_off": round(mean("off", "recommend_rps"), 1), "recommend_rps_on": round(mean("on", "recommend_rps"), 1),
              "ping_rps_off": round(mean("off", "ping_rps"), 1), "ping_rps_on": round(mean("on", "ping_rps"), 1),
              "rounds_recommend_rps": {"off": spread[0], "on": spread[1]},
              "cost": round(cost, 4), "cost_target": COST_TARGET, "cost_pass": cost < COST_TARGET,
              "ceilings": ceilings, "generated_at": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    say(f"scrape of one replica: at most {scrape_max} ms (target {SCRAPE_TARGET_MS:g} ms): "
        f"{'PASS' if result['scrape_pass'] else 'FAIL'}")
    say(f"ceiling /recommend: {result['recommend_rps_off']} rps without, {result['recommend_rps_on']} rps with Prometheus "
        f"(rounds {spread[0]} / {spread[1]}): cost {cost:.1%} (target under {COST_TARGET:.0%}): "
        f"{'PASS' if result['cost_pass'] else 'FAIL'}")
    say(f"written: {args.json}")
    return 0 if result["scrape_pass"] and result["cost_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
