"""The trainer benchmark's steps (scripts/bench_trainer.py): generating a preset's data, and the
benchmark itself (parse, train, save + load, publish, fetch), each in a fresh interpreter
(`python -m loadtests.trainer_bench`) so that its peak RSS is its own, read by the parent with wait4.

`bench_preset()` runs the steps for one preset against a throwaway redis-server with the
production users (harness.redis_server); the benchmark step logs in as the service user with the
trainer's own settings (REDIS_USERNAME=recsys, WEIGHTS_PREFIX=bench), as `trainer serve` does.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import logging
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.paths import ROOT
from harness.redis_server import RedisServer

TARGET_SECONDS = 15 * 60
END_TO_END = "train (includes the parse) + save + load + publish"
PREFIX = "bench"   # WEIGHTS_PREFIX the benchmark publishes under (the service user's only keys)
WORKER_FLAG = "--_worker"  # internal: run one step in this (fresh) process
PR_SET_PDEATHSIG = 1


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """High-water mark of the resident set (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(who).ru_maxrss / 1024, 1)


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU seconds (all threads)."""
    usage = resource.getrusage(who)
    return round(usage.ru_utime + usage.ru_stime, 1)


def _die_with_parent():
    """preexec_fn: the worker gets SIGKILL when the benchmark dies, even by SIGKILL (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


# --- worker: one step in a fresh process --------------------------------------------------------

def worker_generate(preset: str, data_dir: Path) -> dict:
    from trainer.synthetic.generate import generate

    say(f"generate {preset}: trainer.synthetic.generate.generate -> {data_dir}")
    started = time.perf_counter()
    summary = generate(preset, data_dir, progress=lambda message: say(f"generate {preset}: {message}"))
    return {"seconds": round(time.perf_counter() - started, 2), "bytes": int(summary["bytes"]),
            "log_bytes": int(summary["log_bytes"]), "lines": int(summary["lines"]),
            "interactions": int(summary["interactions"]), "rss_peak_mb": rss_peak_mb()}


class StageLog(logging.Handler):
    """Picks the finer stage timings out of the trainer's own log lines."""

    PATTERNS = {
        "evaluation_fit": re.compile(r"^evaluation fit: \d+ epochs in ([\d.]+) s"),
        "final_fit": re.compile(r"^final fit: \d+ epochs in ([\d.]+) s"),
        "bundle_export": re.compile(r"^bundle: .* built in ([\d.]+) s"),
    }

    def __init__(self):
        super().__init__(logging.INFO)
        self.seconds: dict[str, float] = {}
        self.marks: list[tuple[float, float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for name, pattern in self.PATTERNS.items():
            match = pattern.match(message)
            if match:
                self.seconds[name] = float(match.group(1))
                self.marks.append((rss_peak_mb(), cpu_seconds(), name))


def train_detail(meta: dict, stages: StageLog) -> dict:
    """The finer stage seconds: from the trainer's log lines and the differences between them."""
    seconds = meta["stats"]["seconds"]
    detail = dict(stages.seconds)
    evaluate_seconds = (meta.get("report") or {}).get("protocol", {}).get("seconds")
    if evaluate_seconds is not None:
        detail["evaluate_call"] = evaluate_seconds
        detail["build_interactions"] = round(seconds["evaluate"] - evaluate_seconds, 1)
        if "evaluation_fit" in detail:
            detail["evaluation_scoring_and_split"] = round(evaluate_seconds - detail["evaluation_fit"], 1)
    if "final_fit" in detail and "bundle_export" in detail:
        detail["final_feature_space"] = round(seconds["fit_and_export"] - detail["final_fit"] - detail["bundle_export"], 1)
    return detail


def worker_bench(preset: str, data_dir: Path) -> dict:
    # Imported here, not at the top: the parent and the generation step do without the model stack.
    import numpy as np  # noqa: F401  (imported before timing, as by the trainer)

    from common.redisconf import RedisSettings, connect
    from common.weightcache import WeightStore
    from trainer import artifacts
    from trainer.config import ModelConfig
    from trainer.loaders.source import DataSource
    from trainer.pipeline import train
    from trainer.publish import publish

    @dataclass(frozen=True)
    class MeasuredSource(DataSource):
        """DataSource whose load() (trainer.loaders.tables.load_simulator_dir) is timed."""

        probe: dict = field(default_factory=dict, compare=False, repr=False)

        def load(self, *args, **kwargs):   # whatever train() passes (the config)
            say(f"{preset}: parse: trainer.loaders.tables.load_simulator_dir({self.path})")
            started = time.perf_counter()
            raw = super().load(*args, **kwargs)
            seconds = time.perf_counter() - started
            self.probe.update(seconds=seconds, reports=raw.reports, rss_peak_mb=rss_peak_mb(), cpu=cpu_seconds())
            return raw

    result: dict = {"preset": preset, "data_dir": str(data_dir)}
    config = ModelConfig.from_env()
    result["config"] = dict(config.fingerprint_fields(), num_threads=config.num_threads)
    result["env"] = {k: v for k, v in sorted(os.environ.items()) if k.startswith("TRAIN_")}
    source = MeasuredSource.from_dirs(data_dir=data_dir)
    log_files = sorted((data_dir / "events").glob("*.log"))
    result["log_bytes"] = sum(p.stat().st_size for p in log_files)
    result["input_bytes"] = sum(p.stat().st_size for p in source.input_files())
    marks = result["rss_marks_mb"] = {"start": rss_peak_mb()}
    cpu = result["cpu_marks_s"] = {"start": cpu_seconds()}  # CPU seconds used so far (all threads)

    stages = StageLog()
    logging.getLogger("trainer").addHandler(stages)

    # -- parse + train ------------------------------------------------------------------------
    say(f"{preset}: train: trainer.pipeline.train (parse, evaluation fit, final fit, bundle export); "
        f"{config.epochs} epochs, {config.no_components} components, {config.num_threads} threads")
    started = time.perf_counter()
    trained = train(source, config)
    train_seconds = time.perf_counter() - started
    marks["after_train"], cpu["after_train"] = rss_peak_mb(), cpu_seconds()
    reports = source.probe["reports"]
    parse_seconds = source.probe["seconds"]
    total_lines = sum(r.lines for r in reports)
    result["parse"] = {
        "seconds": round(parse_seconds, 2),
        "lines": total_lines, "event_lines": reports[-1].lines,
        "skipped": sum(r.skipped for r in reports),
        "lines_per_s": round(total_lines / parse_seconds) if parse_seconds else None,
        "mb_per_s": round(result["input_bytes"] / 1e6 / parse_seconds, 1) if parse_seconds else None,
        "reports": [r.summary() for r in reports],
    }
    marks["after_parse"], cpu["after_parse"] = source.probe["rss_peak_mb"], source.probe["cpu"]
    for mb, cpu_s, name in stages.marks:
        marks[f"after_{name}"], cpu[f"after_{name}"] = mb, cpu_s
    meta = trained.meta
    stats = meta["stats"]
    report = meta.get("report") or {}
    result["train"] = {
        "seconds": round(train_seconds, 2),
        "cpu_seconds": round(cpu["after_train"] - cpu["start"], 1),
        "cores_used": round((cpu["after_train"] - cpu["start"]) / train_seconds, 2) if train_seconds else None,
        "stage_seconds": dict(stats["seconds"]),   # what train() records in meta["stats"]["seconds"]
        "detail_seconds": train_detail(meta, stages),   # from the trainer's log lines
        "stats": {k: v for k, v in stats.items() if k != "seconds"},
        "precision@10": {"model": report.get("model", {}).get("precision@10"),
                         "popularity": report.get("popularity", {}).get("precision@10")},
        "cold_start_precision@10": {k: v.get("precision@10") for k, v in report.get("cold_start", {}).items()},
    }
    say(f"{preset}: trained in {train_seconds:.1f} s (stages {stats['seconds']}); "
        f"parse {total_lines:,} lines in {parse_seconds:.1f} s")

    # -- save + load (the model directory, as `trainer serve` does) ------------------------------
    model_root = Path(tempfile.mkdtemp(prefix=f"bench-model-{preset}-"))
    try:
        say(f"{preset}: save + load: trainer.artifacts.save/load -> {model_root}")
        started = time.perf_counter()
        artifacts.save(model_root / "model", trained.bundle, meta)
        save_seconds = time.perf_counter() - started
        model_bytes = sum(p.stat().st_size for p in (model_root / "model").rglob("*") if p.is_file())
        del trained
        gc.collect()
        started = time.perf_counter()
        saved = artifacts.load(model_root / "model")
        load_seconds = time.perf_counter() - started
    finally:
        shutil.rmtree(model_root, ignore_errors=True)
    result["save_load"] = {"save_seconds": round(save_seconds, 2), "load_seconds": round(load_seconds, 2),
                           "model_dir_bytes": model_bytes}
    marks["after_save_load"] = rss_peak_mb()

    # -- publish + fetch, logged in as the trainer is (RedisSettings.from_env) ---------------------
    settings = RedisSettings.from_env()
    store = WeightStore(connect(settings), prefix=settings.prefix)
    say(f"{preset}: publish: trainer.publish.publish(saved, store, force=True) -> redis {settings.describe()} "
        f"as user {settings.effective_username!r}, prefix {settings.prefix!r}")
    started = time.perf_counter()
    version = publish(saved, store, force=True)
    publish_seconds = time.perf_counter() - started
    marks["after_publish"] = rss_peak_mb()
    del saved
    gc.collect()
    say(f"{preset}: fetch: WeightStore.fetch({version}) on a fresh connection (what a replica does)")
    replica = WeightStore(connect(settings), prefix=settings.prefix)
    started = time.perf_counter()
    manifest, arrays = replica.fetch(version)
    fetch_seconds = time.perf_counter() - started
    marks["after_fetch"] = rss_peak_mb()
    result["publish"] = {
        "version": version, "seconds": round(publish_seconds, 2), "fetch_seconds": round(fetch_seconds, 2),
        "total_bytes": manifest.total_bytes,
        "arrays": {name: {"dtype": e.dtype, "shape": list(e.shape), "bytes": e.nbytes, "chunks": len(e.chunks)}
                   for name, e in manifest.arrays.items()},
    }   # Redis memory: read by the parent as the admin (INFO is not the service user's)
    del arrays
    e2e = train_seconds + save_seconds + load_seconds + publish_seconds
    result["end_to_end"] = {
        "seconds": round(e2e, 2), "formula": END_TO_END,
        "parse_train_publish_seconds": round(train_seconds + publish_seconds, 2),
        "target_seconds": TARGET_SECONDS, "meets_target": e2e <= TARGET_SECONDS,
    }
    result["rss_peak_mb"] = rss_peak_mb()
    result["children_rss_peak_mb"] = rss_peak_mb(resource.RUSAGE_CHILDREN)
    say(f"{preset}: published {manifest.total_bytes / 1e6:.1f} MB in {publish_seconds:.1f} s, fetched in "
        f"{fetch_seconds:.1f} s; log to published model {e2e:.1f} s")
    return result


def worker_main(argv: list[str] | None = None) -> int:
    """`python -m loadtests.trainer_bench --_worker KIND PRESET DIR --_result FILE`: one step."""
    parser = argparse.ArgumentParser(description="one step of scripts/bench_trainer.py (internal)")
    parser.add_argument(WORKER_FLAG, nargs=3, dest="worker", required=True, metavar=("KIND", "PRESET", "DIR"))
    parser.add_argument("--_result", dest="result", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    kind, preset, data_dir = args.worker
    data_dir = Path(data_dir)
    result = worker_generate(preset, data_dir) if kind == "generate" else worker_bench(preset, data_dir)
    Path(args.result).write_text(json.dumps(result, indent=2, default=str))
    return 0


# --- parent: one fresh process per step ---------------------------------------------------------

class StepFailed(RuntimeError):
    pass


def worker_environment(redis: RedisServer) -> dict[str, str]:
    """The caller's environment (TRAIN_* settings included) with the trainer's Redis login in place
    of any the caller has (REDIS_URL or REDIS_PASSWORD_FILE would otherwise win)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("REDIS_") and k != "WEIGHTS_PREFIX"}
    return dict(env, **redis.env, WEIGHTS_PREFIX=PREFIX)


def run_step(kind: str, preset: str, data_dir: Path, env: dict[str, str] | None = None,
             timeout: float | None = None) -> tuple[dict, float]:
    """Run `kind` in a fresh interpreter; (its result, its peak RSS in MB from wait4)."""
    with tempfile.NamedTemporaryFile(prefix=f"bench-{kind}-", suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    command = [sys.executable, "-m", "loadtests.trainer_bench", WORKER_FLAG, kind, preset, str(data_dir),
               "--_result", str(result_path)]
    proc = subprocess.Popen(command, cwd=ROOT, env=os.environ if env is None else env,  # nosec B603  # this Python on this module, no shell
                            preexec_fn=_die_with_parent)
    started = time.monotonic()
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if timeout and time.monotonic() - started > timeout:
                proc.kill()
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                raise StepFailed(f"{kind} {preset}: killed after the --timeout of {timeout:.0f} s "
                                 f"(peak RSS {usage.ru_maxrss / 1024:,.0f} MB)")
            time.sleep(0.5)
        peak = round(usage.ru_maxrss / 1024, 1)
        step_usage = {"wall_seconds": round(time.monotonic() - started, 1),
                      "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
                      "load_average_before": load_before,
                      "load_average_after": [round(x, 2) for x in os.getloadavg()]}
        if proc.returncode != 0:
            how = (f"killed by signal {-proc.returncode}" + (" (out of memory?)" if proc.returncode == -signal.SIGKILL else "")
                   if proc.returncode < 0 else f"exit status {proc.returncode}")
            raise StepFailed(f"{kind} {preset}: worker failed ({how}) after {time.monotonic() - started:.0f} s, "
                             f"peak RSS {peak:,.0f} MB; see the lines above")
        result = json.loads(result_path.read_text())
        result["step"] = step_usage
        return result, peak
    finally:
        if proc.returncode is None:
            proc.kill()
            try:
                os.wait4(proc.pid, 0)
            except ChildProcessError:
                pass
        result_path.unlink(missing_ok=True)


def bench_against_redis(preset: str, data_dir: Path, timeout: float | None) -> tuple[dict, float]:
    """The benchmark step against a throwaway redis-server with the production users (random
    passwords, the service user confined to PREFIX); Redis memory read afterwards as the admin."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
    redis = RedisServer(workdir, password=secrets.token_hex(16), admin_password=secrets.token_hex(16),
                        prefixes=(PREFIX,))
    try:
        say(f"{preset}: starting a throwaway redis-server on 127.0.0.1:{redis.port} (user {redis.username}, prefix {PREFIX})")
        redis.start()
        say(f"{preset}: benchmark in a fresh process (parse, train, save/load, publish, fetch)")
        result, peak = run_step("bench", preset, data_dir, env=worker_environment(redis), timeout=timeout)
        memory = redis.client().info("memory")
        result["publish"].update(redis_used_memory=memory.get("used_memory"),
                                 redis_used_memory_peak=memory.get("used_memory_peak"),
                                 redis_used_memory_rss=memory.get("used_memory_rss"))
        return result, peak
    finally:
        say(f"{preset}: stopping redis-server (port {redis.port})")
        redis.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def bench_preset(preset: str, data_root: Path, keep_data: bool, timeout: float | None) -> dict:
    from trainer.loaders.source import DataSource
    from trainer.synthetic.presets import PRESETS

    if preset not in PRESETS:
        raise StepFailed(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    data_dir = data_root / preset
    generated = None
    if not DataSource.from_dirs(data_dir=data_dir).has_data():
        if data_dir.exists() and any(data_dir.iterdir()):
            raise StepFailed(f"{data_dir} exists without events/*.log; empty or remove it first")
        say(f"{preset}: no events in {data_dir}: generating preset {preset!r} in a fresh process")
        generated, peak = run_step("generate", preset, data_dir, timeout=timeout)
        generated["rss_peak_mb"] = peak
        say(f"{preset}: generated {generated['lines']:,} lines, {generated['bytes'] / 1e6:,.0f} MB "
            f"in {generated['seconds']:.0f} s")
    else:
        say(f"{preset}: using existing data in {data_dir}")
    try:
        result, peak = bench_against_redis(preset, data_dir, timeout)
    finally:
        if generated is not None and not keep_data:
            say(f"{preset}: deleting the data this run generated ({data_dir}; --keep-data keeps it)")
            shutil.rmtree(data_dir, ignore_errors=True)
    result["generated"] = generated
    result["data_kept"] = generated is None or keep_data
    result["rss_peak_mb_wait4"] = peak
    result["measured_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    result["host"] = {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(),
                      "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
                      "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    return result


if __name__ == "__main__":
    sys.exit(worker_main())
