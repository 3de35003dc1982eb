"""The loop learns (`make loop-demo`): the whole stack from the stack description (redis, broker,
ingester, trainer service, replicas, nginx) on a fresh copy of the generated `default` data,
then the simulator for several simulated days; the trainer retrains from the ingested stream
(RETRAIN_MIN_EVENTS) and publishes through its gate; the truth report compares the followed
share of the day-0 version with the versions trained on the stream.

    .venv/bin/python -m loadtests.loop_learns [--minutes 3] [--speed 1440] [--rate 30] [--json FILE]

At the default speed a simulated day takes one wall-clock minute. Day 0 is a young service's
data: the `default` world with 40,000 watches over 4 days (--day0-set; the simulator plays the
same world with the same settings), so that what the stream adds is worth learning. Exit code 0 when the newest
retrained version's followed share is higher than the day-0 version's (one-sided two-proportion
z-test at 5%), 1 otherwise. Writes the report to loadtests/results/loop-learns.json.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import tempfile
import time
from pathlib import Path

from harness.paths import VENV_BIN
from harness.stack import Stack, clean_environment
from harness.waiting import ready_version, wait_until


def z_test(a: dict, b: dict) -> tuple[float, float]:
    """(difference b - a of the followed shares, one-sided p-value that b is not higher)."""
    n1, n2 = a["answered"], b["answered"]
    p1, p2 = a["followed"] / n1, b["followed"] / n2
    pooled = (a["followed"] + b["followed"]) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2)) or 1e-12
    z = (p2 - p1) / se
    return p2 - p1, 0.5 * math.erfc(z / math.sqrt(2))


def trainer_log_lines(stack: Stack, needle: str) -> list[str]:
    log = stack.settings.logs / "trainer.log"
    return [line for line in log.read_text(errors="replace").splitlines() if needle in line] if log.exists() else []


def run_phase(args, retrain: bool) -> dict:
    """One run of the whole loop; with `retrain` False the trainer never retrains (the day-0 model
    serves throughout: the counterfactual for the same users and days)."""
    with tempfile.TemporaryDirectory(prefix="loop-learns-") as workdir:
        retraining = {"RETRAIN_MIN_EVENTS": str(args.min_events) if retrain else "0", "RETRAIN_INTERVAL": "0"}
        stack = Stack(Path(workdir), replicas=2, kinds=("redis", "broker", "ingest", "trainer", "inference", "nginx"),
                      preset="default", extra_env={**retraining, "TRAIN_NUM_THREADS": "1"})
        overrides = [item for item in args.day0_set.split(",") if item]
        subprocess.run([str(VENV_BIN / "trainer"), "generate-data", "--preset", "default", "--out",  # nosec B603  # the venv's trainer, argv built here
                        str(stack.settings.data_dir), *(f"--set={item}" for item in overrides)],
                       check=True, capture_output=True, timeout=300)
        try:
            started = time.monotonic()
            stack.start()
            day0 = wait_until(lambda: ready_version(f"{stack.url}/readyz"), 600, "the day-0 model serving", interval=1)
            stack.wait_ready(day0, timeout=60)
            print(f"[{'retraining' if retrain else 'no retraining'}] day-0 version {day0} serving after "
                  f"{time.monotonic() - started:.0f} s; simulating {args.minutes * 60 * args.speed / 86400:.1f} "
                  f"simulated days", flush=True)
            truth_path = Path(workdir) / "truth.json"
            env = clean_environment(**stack.settings.service_env(), SIM_DURATION=f"{args.minutes}m",
                                    SIM_GENERATOR_SET=args.day0_set, SIM_ACTIVITY_SIGMA=str(args.activity_sigma),
                                    SIM_SPEED=str(args.speed), SIM_RATE=str(args.rate), SIM_TRUTH_JSON=str(truth_path))
            sim = subprocess.run([str(VENV_BIN / "simulator")], env=env, capture_output=True, text=True,  # nosec B603  # the venv's simulator
                                 timeout=args.minutes * 60 + 300)
            print(sim.stdout, flush=True)
            if sim.returncode != 0:
                raise RuntimeError(f"the simulator failed:\n{sim.stderr[-3000:]}")
            retrains = trainer_log_lines(stack, "retrained in")
        finally:
            stack.close()
        return {"day0": day0, "truth": json.loads(truth_path.read_text()), "retrains": retrains}


def pooled(by_day: dict, versions, first_day: int) -> dict:
    """answered and followed over the given versions on days >= first_day."""
    out = {"answered": 0, "followed": 0}
    for key, v in by_day.items():
        version, day = key.rsplit("@", 1)
        if version in versions and int(day) >= first_day:
            out["answered"] += v["answered"]
            out["followed"] += v["followed"]
    out["followed_share"] = out["followed"] / out["answered"] if out["answered"] else None
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="wall-clock minutes of simulation per run")
    parser.add_argument("--speed", type=float, default=1440.0, help="simulated seconds per second")
    parser.add_argument("--rate", type=float, default=30.0, help="sessions per second")
    parser.add_argument("--min-events", type=int, default=150_000, help="RETRAIN_MIN_EVENTS")
    parser.add_argument("--activity-sigma", type=float, default=1.5, help="SIM_ACTIVITY_SIGMA")
    parser.add_argument("--day0-set", default="interactions=40000,days=4",
                        help="generator overrides of the day-0 data (trainer generate-data --set), comma separated")
    parser.add_argument("--json", default="loadtests/results/loop-learns.json")
    args = parser.parse_args()
    learning = run_phase(args, retrain=True)
    stale = run_phase(args, retrain=False)
    versions = learning["truth"]["versions"]
    later = sorted(v for v in versions if v not in (learning["day0"], "none"))
    report = {"settings": vars(args), "with_retraining": learning, "without_retraining": stale}
    if not later:
        print("no retrained version answered: lower --min-events or run longer")
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        return 1
    by_day = learning["truth"]["by_day"]
    first_day = min(int(k.rsplit("@", 1)[1]) for k in by_day if k.rsplit("@", 1)[0] in later)
    retrained = pooled(by_day, set(later), first_day)
    day0_same_days = pooled(stale["truth"]["by_day"], {stale["day0"]}, first_day)
    difference, p_value = z_test(day0_same_days, retrained)
    newest = max(later, key=lambda v: versions[v]["answered"])
    report.update({"first_retrained_day": first_day, "retrained": retrained, "day0_on_the_same_days": day0_same_days,
                   "difference": round(difference, 4), "p_value": p_value,
                   "per_version_higher": versions[newest]["followed_share"] > versions[learning["day0"]]["followed_share"],
                   "learned": difference > 0 and p_value < 0.05})
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"from simulated day {first_day} on, the same users: the day-0 model kept serving followed "
          f"{day0_same_days['followed_share']:.3f} of {day0_same_days['answered']} answers; the versions retrained on "
          f"the stream {retrained['followed_share']:.3f} of {retrained['answered']} ({difference:+.3f}, one-sided p = "
          f"{p_value:.2g}); per version with retraining: " + ", ".join(
              f"{v} {versions[v]['followed_share']:.3f}" for v in [learning["day0"], *later]))
    return 0 if report["learned"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
