"""Serving benchmark: ceiling ratio, latency vs offered load, replica scaling, model compute and
memory at course scale, hot swap under load (`make bench`; `make bench BENCH_ARGS=--quick`).

    .venv/bin/python -m loadtests.bench [--quick] [--out DIR] [--model-dir DIR] [--skip-compute]

Runs its own stack on loopback (harness.stack.Stack, from the one stack description: redis-server,
N gunicorn replicas, nginx on free ports; `make up` is not needed and not touched) with a model
trained once from the generated `default` preset (cached in --model-dir). The load generator is
locust (loadtests/bench_locustfile.py) on the same machine, targeting 127.0.0.1 only. Steps
(loadtests/bench_steps.py):

1. ceiling: closed loop, the same client alternating `/ping` and `/recommend` through the same nginx
   and replicas: /recommend throughput as a fraction of /ping's.
   The /recommend closed-loop throughput is the saturation throughput S.
2. latency vs offered load: fixed request rates from 0.1 S to beyond S (open loop per user),
   p50/p95/p99 per rate; target p99 <= 20 ms at S/2 with no error.
3. hot swap: a new version is published at S/2 load; failed requests and the time until every
   replica answers with it.
4. replica scaling: 1, 2, 4 replicas (closed loop, /recommend and /ping).
5. served records (provenance, inference/records.py) on vs off, in one run: a broker and two stacks
   alike but for KAFKA_BOOTSTRAP_SERVERS, measured in turn: ceiling ratio and p99 at half of
   saturation of each (target: within 5%). `--only-records` runs just this step.
6. model compute + replica memory at 1,000,000 users x 27,000 movies: scripts/bench_inference.py.

Writes bench.json (every figure), bench.md (summary naming the machine; loadtests/bench_report.py),
bench-latency.png, bench-scaling.png and bench-swap.png (loadtests/bench_plots.py) into --out
(default loadtests/results; --quick: loadtests/results/tmp/quick).
Exit code 0 when the run completed (targets missed are reported, not an error), 1 when it failed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

from harness.paths import ROOT
from loadtests.bench_config import FULL, QUICK, TARGETS, Profile, Run, say
from loadtests.bench_machine import busy_cores, ensure_model, load_bundle, machine_info, machine_load, wait_quiet
from loadtests.bench_plots import plots
from loadtests.bench_report import fmt, make_notes, summary_markdown, target_rows, verdict
from loadtests.bench_stack import THREADS, BenchStack
from loadtests.bench_steps import step_ceiling, step_compute, step_profile, step_records, step_scaling, step_sweep, step_swap

RESULTS = ROOT / "loadtests" / "results"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
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
    parser.add_argument("--skip-records", action="store_true", help="skip served records on vs off")
    parser.add_argument("--only-records", action="store_true", help="only the served records step (with its own stacks)")
    parser.add_argument("--profile", action="store_true", help="also profile replica 1 with py-spy (if installed) "
                        "during closed-loop /ping and /recommend; shares of interpreter time go into the summary")
    parser.add_argument("--wait-quiet", type=float, default=0, metavar="SECONDS",
                        help="first wait (at most this long) until the machine used < 0.25 cores for 10 s")
    parser.add_argument("--keep-workdir", action="store_true", help="keep logs, plans and raw locust results")
    parser.add_argument("--render-only", action="store_true", help="rewrite bench.md and the plots from OUT/bench.json")
    return parser.parse_args(argv)


def chosen_profile(args: argparse.Namespace) -> Profile:
    profile = QUICK if args.quick else FULL
    return replace(profile, replicas=args.replicas or profile.replicas, workers=args.workers or profile.workers)


def write_outputs(results: dict, out: Path) -> None:
    """bench.json, bench.md and the plots, from `results` (notes, targets and plots recomputed)."""
    results["notes"] = make_notes(results, out)
    results["targets"] = target_rows(results)
    results["plots"] = plots(results, out)
    (out / "bench.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "bench.md").write_text(summary_markdown(results))


def measure(run: Run, bundle, args: argparse.Namespace, results: dict) -> None:
    """Every step in order; each one's figures go into `results` as soon as it is done."""
    p = run.profile
    if args.only_records:
        args.skip_scaling = args.skip_compute = True
        return measure_after_main(run, bundle, args, results)
    say(f"main stack: {p.replicas} replicas x {p.workers} workers; work dir {run.workdir}")
    with BenchStack(run.workdir / "stack-main", p.replicas, p.workers, bundle) as stack:
        say("ceiling: /ping vs /recommend, closed loop")
        results["ceiling"] = ceiling = step_ceiling(run, stack)
        say(f"  /ping {ceiling['ping_rps']:.0f}/s, /recommend {ceiling['recommend_rps']:.0f}/s, ratio {ceiling['ratio']:.3f}")
        saturation = ceiling["recommend_rps"]
        say(f"latency vs offered load: {', '.join(f'{f * saturation:.0f}' for f in p.sweep)} req/s")
        results["latency_vs_load"] = sweep = step_sweep(run, stack, saturation)
        for point in sweep["points"]:
            say(f"  {point['offered_rps']:7.0f} offered -> {point['throughput_rps']:7.0f}/s, p50 {fmt(point['p50_ms'], 2)} p95 "
                f"{fmt(point['p95_ms'], 2)} p99 {fmt(point['p99_ms'], 2)} ms, {point['errors']} errors")
        if args.profile:
            say("profile: py-spy on replica 1 during closed-loop /ping and /recommend")
            results["pyspy"] = step_profile(run, stack)
        say("hot swap under load")
        results["swap"] = swap = step_swap(run, stack, saturation / 2)
        say(f"  {swap['failed_requests']} failed of {swap['requests']}; every replica on the new version after "
            f"{swap['time_until_every_replica_serves_it_s']:.3f} s (readyz: {swap['readyz_first_new_s']})")
    measure_after_main(run, bundle, args, results)


def measure_after_main(run: Run, bundle, args: argparse.Namespace, results: dict) -> None:
    """The steps that start stacks of their own."""
    p = run.profile
    if not args.skip_records:
        say("served records (provenance) on vs off: two stacks, one broker, measured in turn")
        results["records"] = rec = step_records(run, bundle)
        say(f"  ceiling ratio off {rec['off']['ratio']:.3f} / on {rec['on']['ratio']:.3f} ({rec['ratio_change']:+.1%}); "
            f"p99 at {rec['off']['half_rate_rps']:.0f} req/s off {rec['off']['p99_half_ms']} / on {rec['on']['p99_half_ms']} ms "
            f"({rec['p99_change']:+.1%}); records {rec['records']}")
    if not args.skip_scaling:
        results["scaling"] = step_scaling(run, bundle)
    if not args.skip_compute:
        say(f"model compute + replica memory: scripts/bench_inference.py at {p.compute_users:,} users")
        results["model_compute"] = mc = step_compute(run)
        say(f"  known user {mc['compute_ms']['known_user_ms']:.4f} ms; replica memory {mc['replica_memory_mb']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = chosen_profile(args)
    out = Path(args.out) if args.out else RESULTS / ("tmp/quick" if args.quick else "")
    out.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        results = json.loads((out / "bench.json").read_text())
        write_outputs(results, out)
        say(f"rewritten: {out / 'bench.md'}, {', '.join(results['plots'])}")
        return 0
    if args.wait_quiet:
        say(f"machine busy: {wait_quiet(args.wait_quiet):.2f} cores; starting")
    started = time.monotonic()
    results: dict = {"mode": profile.name, "generated_at": time.strftime("%Y-%m-%d %H:%M:%S %z"), "machine": machine_info(),
                     "load_before": machine_load(), "run_settings": asdict(profile), "targets_definition": TARGETS, "notes": []}
    results["load_before"]["busy_cores_3s"] = round(busy_cores(3), 2)
    if results["load_before"]["busy_cores_3s"] > 0.25:
        say(f"warning: the machine is not quiet: {results['load_before']['busy_cores_3s']} cores busy")

    model_dir = ensure_model(Path(args.model_dir))
    bundle = load_bundle(model_dir)
    known = (int(bundle.table_user_ids.min()), int(bundle.table_user_ids.max()))
    results["setup"] = {"replicas": profile.replicas, "workers": profile.workers, "threads": THREADS,
                        "model": "default preset (trainer generate-data + train)", "known_users": int(len(bundle.known_user_ids)),
                        "movies": bundle.n_items, "known_range": f"{known[0]}-{known[1]}", "unknown_share": args.unknown_share,
                        "zipf_exponent": args.zipf_exponent}
    (RESULTS / "tmp").mkdir(parents=True, exist_ok=True)
    run = Run(profile, Path(tempfile.mkdtemp(prefix="bench-", dir=RESULTS / "tmp")), known, str(model_dir),
              args.unknown_share, args.zipf_exponent)
    failed = False
    try:
        measure(run, bundle, args, results)
    except Exception as error:  # report what we have
        failed = True
        results["error"] = f"{error.__class__.__name__}: {error}"
        say(f"FAILED: {results['error']}")
    finally:
        results["load_after"] = machine_load()
        results["duration_s"] = round(time.monotonic() - started, 1)
        write_outputs(results, out)
        if args.keep_workdir or failed:
            say(f"work dir kept: {run.workdir}")
        else:
            shutil.rmtree(run.workdir, ignore_errors=True)
    for t in results["targets"]:
        say(f"{verdict(t['pass']).strip('*'):5s} {t['name']}: {t['value']} (target {t['target']})")
    say(f"written: {out / 'bench.json'}, {out / 'bench.md'}, {', '.join(results['plots'])} ({results['duration_s']:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
