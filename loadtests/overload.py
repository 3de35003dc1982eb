#!/usr/bin/env python3
"""Overload run: measure the capacity, offer FACTOR x that for a while, then watch the recovery.

    .venv/bin/python -m loadtests.overload --url http://127.0.0.1:8082 [--factor 3] [--duration 30]
    make overload                  # against `make up`; OVERLOAD_ARGS for more options

1. capacity C: a closed loop (--capacity-workers workers, each sending as soon as it has its answer)
   on /recommend for --capacity-seconds; C = valid answers per second. --capacity skips this.
2. three phases back to back, open loop (requests leave on a fixed schedule whether or not
   earlier answers came back, like the simulator's independent users): baseline at C/2
   (--baseline-seconds), overload at FACTOR x C (--duration), recovery at C/4 (--recovery-seconds).
   The generator is loadtests/openloop.py (asyncio; locust cannot offer 3x the capacity from one
   core: see there).
3. per phase, every request is one of: ok (HTTP 200, a valid list, within 800 ms), late (200 after
   800 ms), shed (503 or 429 from nginx's load shedding / rate limit), error (any other status or
   a wrong answer), no answer (connection error or timeout). Latency p50/p99/max of the successes
   and of the sheds. Recovery: seconds from the end of the overload to the send time of the last
   request that was not ok (0 when every recovery request was ok).

Pass (exit 0) when: the generator offered at least 90% of FACTOR x C, no request was late, none
failed otherwise (errors, no answers, wrong answers), sheds were fast (slowest below 800 ms) and
the recovery took at most --recovery-limit seconds (5). Exit 1 otherwise, 2 on a usage error.
The result is printed and written as JSON (--json).

The load generator shares the machine with the stack. --cpus pins it to some cores (e.g. `1`
when the stack runs on core 0), so that it can offer more than the stack can serve.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from harness.answers import DEFAULT_LIMIT_MS
from loadtests.openloop import Phase, run_phases
from loadtests.traffic import UserMix, parse_range

SHED_STATUSES = (503, 429)


def say(message: str) -> None:
    print(f"[overload] {message}", flush=True)


def classify(phase: Phase, limit_ms: float = DEFAULT_LIMIT_MS) -> dict:
    """Counts and latencies of one phase."""
    status = np.asarray(phase.statuses, dtype=np.int64)
    service = np.asarray(phase.service_ms, dtype=np.float64)
    valid = np.asarray(phase.valid, dtype=bool)
    ok_status = status == 200
    late = ok_status & (service > limit_ms)
    wrong = ok_status & ~late & ~valid
    ok = ok_status & ~late & valid
    shed = np.isin(status, SHED_STATUSES)
    no_answer = status == 0
    error = ~(ok_status | shed | no_answer)

    def pct(values: np.ndarray, q: float) -> float | None:
        return round(float(np.percentile(values, q)), 1) if len(values) else None

    def top(values: np.ndarray) -> float | None:
        return round(float(values.max()), 1) if len(values) else None

    return {
        "name": phase.name, "offered_rps": round(phase.rate, 1), "duration_s": phase.duration,
        "sent": int(len(status)), "sent_rps": round(len(status) / phase.duration, 1), "not_sent": phase.not_sent,
        "ok": int(ok.sum()), "late": int(late.sum()), "shed": int(shed.sum()),
        "shed_by_status": {str(code): int((status == code).sum()) for code in SHED_STATUSES if (status == code).any()},
        "errors": int(error.sum()), "error_statuses": sorted({int(s) for s in status[error]}),
        "no_answer": int(no_answer.sum()), "no_answer_reasons": dict(phase.no_answer), "wrong_answers": int(wrong.sum()),
        "ok_p50_ms": pct(service[ok], 50), "ok_p99_ms": pct(service[ok], 99), "ok_max_ms": top(service[ok]),
        "shed_p50_ms": pct(service[shed], 50), "shed_p99_ms": pct(service[shed], 99), "shed_max_ms": top(service[shed]),
    }


def measure_capacity(url: str, mix: UserMix, workers: int = 64, seconds: float = 5.0) -> float:
    """Valid answers per second of a closed loop of `workers` (after a 1 s warm-up)."""
    warmup, measured = run_phases(url, [Phase("warmup", 0, 1.0, workers), Phase("capacity", 0, seconds, workers)], mix)
    counts = classify(measured)
    say(f"capacity: {counts['ok']} valid answers in {seconds:g} s from {workers} workers back to back "
        f"({counts['sent'] - counts['ok']} not: shed {counts['shed_by_status']}, errors {counts['errors']} {counts['error_statuses']}, "
        f"no answer {counts['no_answer']})")
    if counts["shed_by_status"].get("429"):
        say("the capacity measured is nginx's per-client rate limit (429s), not the replicas': raise "
            "NGINX_CLIENT_RATE / NGINX_CLIENT_BURST on the stack to measure those")
    return counts["ok"] / seconds


def run_overload(url: str, mix: UserMix, capacity: float, factor: float = 3.0, duration: float = 30.0,
                 baseline_s: float = 3.0, recovery_s: float = 8.0, recovery_limit_s: float = 5.0) -> dict:
    """Baseline, overload and recovery phases back to back; the verdict and every count."""
    rate = factor * capacity
    say(f"capacity {capacity:.0f} req/s -> {capacity / 2:.0f} req/s for {baseline_s:g} s, {rate:.0f} req/s "
        f"({factor:g}x) for {duration:g} s, {capacity / 4:.0f} req/s for {recovery_s:g} s")
    phases = run_phases(url, [Phase("baseline", capacity / 2, baseline_s), Phase("overload", rate, duration),
                              Phase("recovery", capacity / 4, recovery_s)], mix)
    stats = {p.name: classify(p) for p in phases}
    overload, recovery_phase = phases[1], phases[2]
    bad = [sent - overload.end for sent, status, ms, valid in zip(recovery_phase.sent, recovery_phase.statuses,
                                                                   recovery_phase.service_ms, recovery_phase.valid)
           if not (status == 200 and valid and ms <= DEFAULT_LIMIT_MS)]
    recovery = round(max(0.0, max(bad)), 2) if bad else 0.0
    over = stats["overload"]
    checks = {
        "offered at least 90% of the target rate": over["sent_rps"] >= 0.9 * rate and over["not_sent"] == 0,
        "no success later than 800 ms": all(s["late"] == 0 for s in stats.values()),
        "no errors, no unanswered or wrong answers": all(s["errors"] == s["no_answer"] == s["wrong_answers"] == 0
                                                         for s in stats.values()),
        "sheds are fast (slowest < 800 ms)": all((s["shed_max_ms"] or 0) < DEFAULT_LIMIT_MS for s in stats.values()),
        f"recovered within {recovery_limit_s:g} s": recovery <= recovery_limit_s,
    }
    return {"capacity_rps": round(capacity, 1), "factor": factor, "target_rps": round(rate, 1),
            "phases": stats, "recovery_s": recovery, "checks": checks, "passed": all(checks.values())}


def report(result: dict) -> str:
    head = (f"{'phase':<9} {'offered/s':>9} {'sent/s':>7} {'sent':>7} {'ok':>7} {'late':>5} {'shed':>7} {'errors':>6} "
            f"{'no answer':>9} {'ok p50/p99/max ms':>19} {'shed p50/p99/max ms':>21}")
    lines = [head]
    for s in result["phases"].values():
        ok_lat = "/".join("-" if v is None else f"{v:g}" for v in (s["ok_p50_ms"], s["ok_p99_ms"], s["ok_max_ms"]))
        shed_lat = "/".join("-" if v is None else f"{v:g}" for v in (s["shed_p50_ms"], s["shed_p99_ms"], s["shed_max_ms"]))
        lines.append(f"{s['name']:<9} {s['offered_rps']:>9.0f} {s['sent_rps']:>7.0f} {s['sent']:>7} {s['ok']:>7} "
                     f"{s['late']:>5} {s['shed']:>7} {s['errors']:>6} {s['no_answer']:>9} {ok_lat:>19} {shed_lat:>21}")
    lines.append(f"capacity {result['capacity_rps']:g} req/s, overload {result['factor']:g}x = {result['target_rps']:g} req/s, "
                 f"recovery {result['recovery_s']:g} s after the overload ended")
    for s in result["phases"].values():
        if s["no_answer"] or s["errors"] or s["wrong_answers"]:
            lines.append(f"{s['name']}: no answer {s['no_answer_reasons']}, error statuses {s['error_statuses']}, "
                         f"wrong answers {s['wrong_answers']}")
    lines += [f"  {'PASS' if ok else 'FAIL'}  {name}" for name, ok in result["checks"].items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8082")
    parser.add_argument("--factor", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of overload")
    parser.add_argument("--capacity", type=float, default=None, help="req/s; measured when not given")
    parser.add_argument("--capacity-workers", type=int, default=64)
    parser.add_argument("--capacity-seconds", type=float, default=5.0)
    parser.add_argument("--baseline-seconds", type=float, default=3.0)
    parser.add_argument("--recovery-seconds", type=float, default=8.0)
    parser.add_argument("--recovery-limit", type=float, default=5.0)
    parser.add_argument("--known-users", default="1-6000")
    parser.add_argument("--unknown-share", type=float, default=0.05)
    parser.add_argument("--cpus", default=None, help="pin the load generator to these cores, e.g. 1 or 2,3")
    parser.add_argument("--json", type=Path, default=None, help="write the result here")
    args = parser.parse_args(argv)
    try:
        mix = UserMix(parse_range(args.known_users), args.unknown_share, seed=1)
        if args.cpus:
            os.sched_setaffinity(0, {int(c) for c in args.cpus.split(",")})
    except (ValueError, OSError) as error:
        parser.error(str(error))
    capacity = args.capacity or measure_capacity(args.url, mix, args.capacity_workers, args.capacity_seconds)
    if capacity <= 0:
        say("capacity measured as 0 req/s: is the stack up and serving a model?")
        return 1
    result = run_overload(args.url, mix, capacity, args.factor, args.duration, args.baseline_seconds,
                          args.recovery_seconds, args.recovery_limit)
    print(report(result), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
