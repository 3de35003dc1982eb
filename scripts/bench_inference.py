#!/usr/bin/env python3
"""Inference benchmark at course scale: per-request model compute and the memory of one replica.

    .venv/bin/python scripts/bench_inference.py [--users 1000000] [--movies 27000] [--workers 2]
    .venv/bin/python scripts/bench_inference.py --quick     # 20,000 users x 2,000 movies: a smoke run

1. Builds a model bundle of the given size (random weights: the shapes are what matter here).
2. Times the answer path without HTTP: known user (lookup), cold-start user (scored on the fly,
   cache off), popularity; each including the answer string.
3. Publishes the bundle into a throwaway redis-server (harness.redis_server, the production ACL),
   starts one real replica with `--workers` workers (the stack description's gunicorn command line,
   harness.stackdef), waits until its /readyz serves the version, and reads /proc for the memory of
   all its processes: RSS of each, and the sum of PSS (shared pages counted once, split between sharers).
4. Publishes a second version and measures the hot-swap memory and time.

Prints a table and writes JSON (--json, default loadtests/results/inference-bench.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common.bundle import TOP_K, ModelBundle
from common.demographics import user_feature_names
from common.recommend import Recommender
from common.weightcache import WeightStore
from harness.bundles import OCCUPATIONS
from harness.paths import ROOT, VENV_BIN
from harness.ports import free_port
from harness.processes import Process, process_tree
from harness.redis_server import RedisServer
from harness.stack import clean_environment
from harness.stackdef import GUNICORN_CONF, gunicorn_argv
from harness.waiting import http_get, ready_version, wait_until

PREFIX = "bench"
COMPUTE_TARGET_MS = 0.5
MEMORY_TARGET_MB = 400


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def build_bundle(n_users: int, n_movies: int, dim: int, seed: int) -> ModelBundle:
    rng = np.random.default_rng(seed)
    names = sorted({n for age in range(15, 70, 5) for g in "MF" for o in OCCUPATIONS for n in user_feature_names(age, g, o)})
    user_ids = np.arange(1, n_users + 1, dtype=np.int64)
    return ModelBundle(
        movie_ids=np.array([f"some+movie+title+number+{i}+{1950 + i % 70}" for i in range(n_movies)], dtype=str),
        item_vectors=rng.standard_normal((n_movies, dim), dtype=np.float32),
        item_biases=rng.standard_normal(n_movies, dtype=np.float32),
        popular=np.arange(min(1000, n_movies), dtype=np.int32),
        known_user_ids=user_ids,
        known_topk=rng.integers(0, n_movies, size=(n_users, TOP_K), dtype=np.int32),
        feature_names=np.array(names, dtype=str),
        feature_vectors=rng.standard_normal((len(names), dim), dtype=np.float32),
        table_user_ids=user_ids,
        table_user_features=rng.integers(0, len(names), size=(n_users, 3), dtype=np.int32),
    )


def time_per_call(function, args_list) -> float:
    started = time.perf_counter()
    for args in args_list:
        function(*args)
    return (time.perf_counter() - started) / len(args_list) * 1000


def compute_times(bundle: ModelBundle, repeats: int) -> dict:
    recommender = Recommender(bundle)
    rng = np.random.default_rng(1)
    users = [(int(u),) for u in rng.integers(1, len(bundle.known_user_ids) + 1, size=repeats)]
    feature_sets = [(tuple(sorted(rng.choice(len(bundle.feature_names), size=3, replace=False).tolist())),) for _ in range(repeats // 10)]

    def known(user_id):
        return ",".join(recommender.movie_list(recommender.known_list(user_id)))

    def cold(features):
        recommender._by_features.clear()  # measure the scoring, not the cache
        return ",".join(recommender.movie_list(recommender.for_features(features)))

    def popular():
        return ",".join(recommender.movie_list(recommender.popular()))

    known(1), cold(feature_sets[0][0]), popular()  # warm up
    return {
        "known_user_ms": time_per_call(known, users),
        "cold_start_uncached_ms": time_per_call(cold, feature_sets),
        "popularity_ms": time_per_call(popular, [()] * repeats),
    }


def memory_of(pid: int) -> dict:
    processes = {}
    for p in process_tree(pid):
        fields = {}
        for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines()[1:]:
            name, value = line.split(":", 1)
            fields[name] = int(value.split()[0])  # kB
        processes[p] = {"rss_mb": fields["Rss"] / 1024, "pss_mb": fields["Pss"] / 1024,
                        "uss_mb": (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / 1024}
    return {"processes": processes, "rss_sum_mb": sum(p["rss_mb"] for p in processes.values()),
            "pss_sum_mb": sum(p["pss_mb"] for p in processes.values()),
            "private_sum_mb": sum(p["uss_mb"] for p in processes.values())}


def directory_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20


def seconds_until_serving(replica: Process, url: str, version: str, timeout: float) -> float:
    """Seconds until the replica's /readyz names `version` (its X-Model-Version)."""
    started = time.monotonic()
    wait_until(lambda: ready_version(url) == version, timeout, f"the replica serving {version}", proc=replica.proc)
    return time.monotonic() - started


def replica_memory(bundle: ModelBundle, workers: int, workdir: Path) -> dict:
    redis = RedisServer(workdir / "redis", prefixes=(PREFIX,)).start()
    # The model files in tmpfs, where a replica keeps them (a fresh 0700 directory of its own).
    cache_dir = Path(tempfile.mkdtemp(prefix="bench-models-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))  # nosec B108  # mkdtemp: fresh 0700 dir in tmpfs
    port = free_port()
    env = clean_environment(**redis.env, WEIGHTS_PREFIX=PREFIX, WEB_CONCURRENCY=str(workers), MODEL_POLL_INTERVAL="1",
                            MODEL_CACHE_DIR=str(cache_dir), INFERENCE_BIND=f"127.0.0.1:{port}",
                            INFERENCE_REPLICA_NAME="bench-inference")
    replica = Process("inference", gunicorn_argv(str(ROOT / GUNICORN_CONF), str(VENV_BIN / "gunicorn")), env,
                      workdir / "replica.log", cwd=ROOT)
    ready_url = f"http://127.0.0.1:{port}/readyz"
    try:
        store = WeightStore(redis.client(), prefix=PREFIX)
        started = time.monotonic()
        first = store.publish(bundle.to_arrays())
        publish_seconds = time.monotonic() - started
        size_mb = store.manifest(first).total_bytes / 1e6
        replica.start()
        say(f"replica starting with {workers} workers; first load of {size_mb:.0f} MB")
        first_load = seconds_until_serving(replica, ready_url, first, 300)
        for user_id in range(1, 2000, 7):  # touch a spread of the top-k pages as traffic would
            http_get(f"http://127.0.0.1:{port}/recommend/{user_id * 409 % len(bundle.known_user_ids) + 1}", timeout=2)
        steady = dict(memory_of(replica.pid), model_files_mb=directory_mb(cache_dir))
        say("publishing a second version (hot swap)")
        swap_bundle = ModelBundle(**dict(bundle.to_arrays(), item_biases=bundle.item_biases + np.float32(0.01)))
        second = store.publish(swap_bundle.to_arrays())
        swap_seconds = seconds_until_serving(replica, ready_url, second, 300)
        time.sleep(2)  # the other worker swaps too, then the old files go
        after_swap = dict(memory_of(replica.pid), model_files_mb=directory_mb(cache_dir))
        return {"published_mb": size_mb, "publish_seconds": publish_seconds, "first_load_seconds": first_load,
                "swap_seconds": swap_seconds, "steady": steady, "after_swap": after_swap}
    finally:
        replica.stop(grace=30)
        redis.stop()
        shutil.rmtree(cache_dir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--movies", type=int, default=27_000)
    parser.add_argument("--dim", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20_000)
    parser.add_argument("--json", default=str(ROOT / "loadtests/results/inference-bench.json"))
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run: 20,000 users x 2,000 movies, 2,000 repeats, JSON to loadtests/results/tmp/")
    args = parser.parse_args()
    if args.quick:
        args.users, args.movies, args.repeats = min(args.users, 20_000), min(args.movies, 2_000), min(args.repeats, 2_000)
        if args.json == parser.get_default("json"):
            args.json = str(ROOT / "loadtests/results/tmp/inference-bench-quick.json")

    say(f"building a bundle: {args.users:,} known users, {args.movies:,} movies, {args.dim} dimensions")
    bundle = build_bundle(args.users, args.movies, args.dim, seed=0)
    say("timing the answer path")
    compute = compute_times(bundle, args.repeats)
    with tempfile.TemporaryDirectory() as tmp:
        memory = replica_memory(bundle, args.workers, Path(tmp))

    result = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
              "scale": {"users": args.users, "movies": args.movies, "dim": args.dim, "workers": args.workers},
              "compute_ms": compute, "replica": memory,
              "targets": {"compute_ms": COMPUTE_TARGET_MS, "replica_memory_mb": MEMORY_TARGET_MB}}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))

    def verdict(ok):
        return "PASS" if ok else "MISS"

    print(f"scale: {args.users:,} known users, {args.movies:,} movies, dim {args.dim}, {args.workers} workers")
    print(f"{'answer path (no HTTP)':40s}{'ms/request':>12s}")
    for name, ms in compute.items():
        target = f"  {verdict(ms <= COMPUTE_TARGET_MS)} (<= {COMPUTE_TARGET_MS} ms)" if name != "cold_start_uncached_ms" else "  (cached per feature combination after the first)"
        print(f"  {name:38s}{ms:12.4f}{target}")
    steady, swapped = memory["steady"], memory["after_swap"]
    print(f"published version: {memory['published_mb']:.0f} MB in {memory['publish_seconds']:.1f} s; "
          f"first load {memory['first_load_seconds']:.1f} s; hot swap {memory['swap_seconds']:.1f} s")
    for label, state in (("steady", steady), ("after a swap", swapped)):
        total = state["private_sum_mb"] + state["model_files_mb"]
        print(f"replica memory, {label}: private memory of all processes {state['private_sum_mb']:.0f} MB + model files in tmpfs "
              f"{state['model_files_mb']:.0f} MB = {total:.0f} MB  {verdict(total <= MEMORY_TARGET_MB)} (<= {MEMORY_TARGET_MB} MB); "
              f"PSS sum {state['pss_sum_mb']:.0f} MB; RSS sum {state['rss_sum_mb']:.0f} MB (counts shared pages once per process)")
    for pid, p in steady["processes"].items():
        print(f"  pid {pid}: RSS {p['rss_mb']:.0f} MB, PSS {p['pss_mb']:.0f} MB, private {p['uss_mb']:.0f} MB")
    print(f"written: {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
