#!/usr/bin/env python3
"""Trainer benchmark (a script, not a test): from the event log to a published model, per preset.

    .venv/bin/python scripts/bench_trainer.py [--presets default,full] [--data-root data/generated]
                                              [--json loadtests/results/trainer-bench.json] [--keep-data]
    make bench-trainer BENCH_ARGS="--presets default,full"

For every preset it prints (table on stdout, progress on stderr) and writes to JSON:

- data: generated with trainer.synthetic.generate.generate when <data-root>/<preset> has no
  events/*.log (generation seconds and size are then reported; data the benchmark generated is
  deleted afterwards unless --keep-data; data that was already there is never touched), log size;
- parse: trainer.loaders.tables.load_simulator_dir (the load inside train(), timed by wrapping
  trainer.loaders.source.DataSource.load): lines (from the ParseReports), seconds, lines/s, MB/s;
- training: wall time of trainer.pipeline.train (load + evaluation fit + final fit + bundle
  export), with the stage seconds train() records in meta["stats"]["seconds"], finer stages
  taken from the trainer's own log lines (evaluation fit, final fit, bundle export), and
  precision@10 model vs popularity from meta["report"];
- save + load: trainer.artifacts.save / load of the model directory (what `trainer serve` does
  between training and publishing);
- publish: trainer.publish.publish(saved, store, force=True) into a throwaway redis-server with the
  production users (harness.redis_server: random passwords, a free loopback port), logged in as the
  trainer is (REDIS_USERNAME=recsys, confined to WEIGHTS_PREFIX=bench; includes the store's
  read-back verification), the published size (manifest.total_bytes), Redis memory (read as the
  admin), and a store.fetch(version) on a fresh connection (what every replica does);
- peak memory: RSS high-water mark of the benchmark process for that preset (each preset, and
  each generation, runs in a fresh subprocess; the parent reads the child's rusage with wait4),
  and the high-water mark after each step as seen from inside;
- end to end, "log to published model": train (which includes the parse) + save + load +
  publish, against the 15-minute target on this machine (PASS / MISS).

Model settings come from the environment as for the trainer (TRAIN_EPOCHS, TRAIN_EVAL_USERS,
TRAIN_NUM_THREADS, ... see services/trainer/config.py); they are recorded with the results.
The JSON file is merged by preset: running `--presets full` keeps an earlier `default` entry
(every entry carries its own time stamp and settings).

The steps are loadtests.trainer_bench (each run as `python -m loadtests.trainer_bench`), the table
and the JSON file loadtests.trainer_bench_report.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from harness.paths import ROOT
from loadtests.trainer_bench import StepFailed, bench_preset, say
from loadtests.trainer_bench_report import summary, write_json

DEFAULT_JSON = "loadtests/results/trainer-bench.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="default", help="comma-separated presets (default: default)")
    parser.add_argument("--data-root", default="data/generated", help="<data-root>/<preset> holds each preset's data")
    parser.add_argument("--json", default=DEFAULT_JSON, help=f"results file, merged by preset (default: {DEFAULT_JSON})")
    parser.add_argument("--keep-data", action="store_true", help="keep data this run generated (default: delete it afterwards)")
    parser.add_argument("--timeout", type=float, help="kill a step (generation or benchmark) after this many seconds")
    args = parser.parse_args(argv)

    data_root = Path(args.data_root).resolve()  # relative to where the benchmark was started
    json_path = Path(args.json).resolve()
    os.chdir(ROOT)

    def terminate(signum, _frame):
        raise SystemExit(128 + signum)  # unwinds through the finally blocks (redis, workers)

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGHUP, terminate)
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    results: dict = {}
    failures: dict = {}
    for preset in presets:
        say(f"=== preset {preset} ===")
        started = time.monotonic()
        try:
            results[preset] = bench_preset(preset, data_root, args.keep_data, args.timeout)
        except StepFailed as error:
            failures[preset] = str(error)
            say(f"{preset}: FAILED: {error}")
        else:
            say(f"{preset}: done in {time.monotonic() - started:.0f} s")
    write_json(json_path, results, failures)
    print(summary(results, failures, json_path))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
