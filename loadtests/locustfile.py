"""Simulator traffic against the recommendation service (`make loadtest`, or locust directly).

    .venv/bin/locust -f loadtests/locustfile.py --headless -u 100 -r 20 -t 60s -H http://127.0.0.1:8082 \\
        --catalog .run/models/default --summary-json out/summary.json --csv out/locust --html out/report.html

Each simulated user sends `GET /recommend/<userid>` at --user-rate requests per second (0: back to
back). User ids: --known-users (a range, default 1-6000, the ids of the generated `default` data)
drawn with a Zipf-like skew (--zipf-exponent, rank r has weight 1/r^s), plus --unknown-share of ids
above the known range (cold start). A request fails unless it is 200, one line of 1..20 unique
comma-separated movie ids (slug characters; from --catalog when given), within --max-latency-ms
(the simulator gives up after 800 ms).

At the end a summary JSON (--summary-json) holds requests/s, p50/p95/p99, the failure ratio and the
failure reasons; the exit code is 1 when any request failed, p99 exceeded --p99-limit-ms, or nothing
was sent. Every option also reads an environment variable (LOADTEST_KNOWN_USERS, ...).
"""

from __future__ import annotations

import json
import logging
import platform
import random
import sys
import time
from pathlib import Path

from locust import FastHttpUser, constant, events, task
from locust.runners import WorkerRunner

from harness.answers import DEFAULT_LIMIT_MS, check_answer
from loadtests.traffic import UserMix, load_catalog, parse_range

log = logging.getLogger("loadtest")
STATE: dict = {}


@events.init_command_line_parser.add_listener
def _options(parser):
    group = parser.add_argument_group("simulator traffic (loadtests/locustfile.py)")
    group.add_argument("--known-users", default="1-6000", env_var="LOADTEST_KNOWN_USERS",
                       help="range of known user ids, LOW-HIGH (default 1-6000: the generated default data)")
    group.add_argument("--unknown-share", type=float, default=0.05, env_var="LOADTEST_UNKNOWN_SHARE",
                       help="share of requests for user ids above the known range (default 0.05)")
    group.add_argument("--zipf-exponent", type=float, default=1.0, env_var="LOADTEST_ZIPF_EXPONENT",
                       help="skew of the known users: rank r is drawn with weight 1/r^s (default 1.0; 0 = uniform)")
    group.add_argument("--user-rate", type=float, default=2.0, env_var="LOADTEST_USER_RATE",
                       help="requests per second of each simulated user, Poisson arrivals (default 2; 0 = back to back)")
    group.add_argument("--catalog", default="", env_var="LOADTEST_CATALOG",
                       help="movie ids an answer may contain: a model dir, bundle/movie_ids.npy, movies.csv or a "
                            "text file (default: check the id format only)")
    group.add_argument("--max-latency-ms", type=float, default=DEFAULT_LIMIT_MS, env_var="LOADTEST_MAX_LATENCY_MS",
                       help="a slower answer counts as failed (default 800, the simulator's timeout)")
    group.add_argument("--p99-limit-ms", type=float, default=DEFAULT_LIMIT_MS, env_var="LOADTEST_P99_LIMIT_MS",
                       help="exit non-zero when the overall p99 is above this (default 800)")
    group.add_argument("--summary-json", default="", env_var="LOADTEST_SUMMARY_JSON",
                       help="write the summary here (requests/s, p50/p95/p99, failure ratio, reasons)")
    group.add_argument("--seed", type=int, default=None, env_var="LOADTEST_SEED", help="seed of the user-id draws")


@events.init.add_listener
def _configure(environment, **_kwargs):
    options = environment.parsed_options
    if options is None:  # used as a library without a command line
        return
    try:
        known = parse_range(options.known_users)
        STATE["mix"] = UserMix(known, options.unknown_share, options.zipf_exponent, seed=options.seed)
        STATE["catalog"] = load_catalog(options.catalog)
    except ValueError as error:
        log.error("%s", error)
        sys.exit(2)
    STATE["limit_ms"] = options.max_latency_ms
    SimulatorUser.wait_time = poisson_throughput(options.user_rate) if options.user_rate > 0 else constant(0)
    if isinstance(environment.runner, WorkerRunner):
        return
    catalog = STATE["catalog"]
    log.info("known users %s (Zipf s=%g: the 10 heaviest make %.0f%% of their requests), unknown share %g, "
             "%s req/s per user, catalog: %s",
             options.known_users, options.zipf_exponent, 100 * STATE["mix"].top_share(10), options.unknown_share,
             options.user_rate or "back-to-back", f"{len(catalog):,} ids from {options.catalog}" if catalog else "format check only")


def poisson_throughput(rate: float):
    """Wait time for `rate` requests/s per user as a Poisson process (exponential gaps between scheduled
    sends, independent of how long answers take): users never fall into lockstep, so the total load is
    random arrivals like the simulator's, not synchronized bursts. A user that fell behind catches up."""

    def wait_time(user) -> float:
        now = time.monotonic()
        scheduled = getattr(user, "_next_send", None)
        if scheduled is None:
            scheduled = now + random.expovariate(rate)  # random phase at start
        else:
            scheduled += random.expovariate(rate)
        user._next_send = max(scheduled, now - 1.0)  # do not pile up more than a second of backlog
        return max(0.0, user._next_send - now)

    return wait_time


class SimulatorUser(FastHttpUser):
    # The simulator gives up after 800 ms; a longer network timeout lets the check report the real
    # latency of a slow answer (counted as failed) instead of a cut-off.
    network_timeout = 5.0
    connection_timeout = 2.0
    wait_time = constant(0)

    @task
    def recommend(self):
        user_id, kind = STATE["mix"].next()
        with self.client.get(f"/recommend/{user_id}", name=f"/recommend/[{kind}]", catch_response=True) as response:
            status = response.status_code or 0
            reason = check_answer(status, response.text if status else None, STATE["catalog"],
                                  response.request_meta["response_time"], STATE["limit_ms"], getattr(response, "error", None))
            if reason:
                response.failure(reason)
            else:
                response.success()


def summarize(environment) -> dict:
    stats = environment.stats
    total = stats.total
    options = environment.parsed_options

    def percentiles(entry) -> dict:
        if not entry.num_requests:
            return {}
        return {"p50": entry.get_response_time_percentile(0.50), "p95": entry.get_response_time_percentile(0.95),
                "p99": entry.get_response_time_percentile(0.99), "max": entry.max_response_time,
                "avg": entry.avg_response_time}

    duration = max(1e-9, (total.last_request_timestamp or time.time()) - total.start_time)
    summary = {
        "host": environment.host,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(total.start_time)),
        "duration_s": round(duration, 3),
        "users": options.num_users,
        "options": {"known_users": options.known_users, "unknown_share": options.unknown_share,
                    "zipf_exponent": options.zipf_exponent, "user_rate": options.user_rate,
                    "catalog": options.catalog or None, "max_latency_ms": options.max_latency_ms},
        "requests": total.num_requests,
        "failures": total.num_failures,
        "failure_ratio": total.fail_ratio,
        "requests_per_s": total.num_requests / duration,
        "latency_ms": percentiles(total),
        "by_name": {f"{e.method} {e.name}": {"requests": e.num_requests, "failures": e.num_failures,
                                              "latency_ms": percentiles(e)} for e in stats.entries.values()},
        "failure_reasons": {f"{e.name}: {e.error}": e.occurrences for e in stats.errors.values()},
        "thresholds": {"failures": 0, "p99_ms": options.p99_limit_ms},
        "client": {"python": platform.python_version(), "locust_cpu_warning": bool(getattr(environment.runner, "cpu_warning_emitted", False))},
    }
    p99 = summary["latency_ms"].get("p99")
    problems = []
    if total.num_requests == 0:
        problems.append("no request was sent")
    if total.num_failures:
        problems.append(f"{total.num_failures} of {total.num_requests} requests failed")
    if p99 is not None and p99 > options.p99_limit_ms:
        problems.append(f"p99 {p99:.0f} ms > {options.p99_limit_ms:g} ms")
    summary["passed"] = not problems
    summary["problems"] = problems
    return summary


@events.quitting.add_listener
def _verdict(environment, **_kwargs):
    if isinstance(environment.runner, WorkerRunner) or environment.parsed_options is None:
        return
    summary = summarize(environment)
    environment.process_exit_code = 0 if summary["passed"] else 1
    summary["exit_code"] = environment.process_exit_code
    target = environment.parsed_options.summary_json
    if target:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        Path(target).write_text(json.dumps(summary, indent=2) + "\n")
    lat = summary["latency_ms"]
    line = (f"{summary['requests']} requests, {summary['requests_per_s']:.1f}/s, failure ratio {summary['failure_ratio']:.4f}, "
            f"p50 {lat.get('p50', 0):.0f} ms, p95 {lat.get('p95', 0):.0f} ms, p99 {lat.get('p99', 0):.0f} ms")
    verdict = "PASS" if summary["passed"] else "FAIL: " + "; ".join(summary["problems"])
    log.info("loadtest: %s -> %s%s", line, verdict, f" (summary: {target})" if target else "")
