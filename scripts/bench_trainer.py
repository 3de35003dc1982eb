#!/usr/bin/env python3
"""Trainer benchmark (a script, not a test): from the event log to a published model, per preset.

    python scripts/bench_trainer.py [--presets default,full] [--data-root data/generated]
                                    [--json loadtests/results/trainer-bench.json] [--keep-data]
    make bench-trainer BENCH_ARGS="--presets default,full"

For every preset it prints (table on stdout, progress on stderr) and writes to JSON:

- data: generated with trainer.generate.generate when <data-root>/<preset> has no events/*.log
  (generation seconds and size are then reported; data the benchmark generated is deleted
  afterwards unless --keep-data; data that was already there is never touched), log size;
- parse: trainer.tables.load_simulator_dir (the load inside train(), timed by wrapping
  DataSource.load): lines (from the ParseReports), seconds, lines/s, MB/s;
- training: wall time of trainer.pipeline.train (load + evaluation fit + final fit + bundle
  export), with the stage seconds train() records in meta["stats"]["seconds"], finer stages
  taken from the trainer's own log lines (evaluation fit, final fit, bundle export), and
  precision@10 model vs popularity from meta["report"];
- save + load: trainer.artifacts.save / load of the model directory (what `trainer serve` does
  between training and publishing);
- publish: trainer.publish.publish(saved, store, force=True) into a throwaway redis-server on a
  free loopback port with a random password (includes the store's read-back verification), the
  published size (manifest.total_bytes), Redis memory, and a store.fetch(version) on a fresh
  connection (what every replica does);
- peak memory: RSS high-water mark of the benchmark process for that preset (each preset, and
  each generation, runs in a fresh subprocess; the parent reads the child's rusage with wait4),
  and the high-water mark after each step as seen from inside;
- end to end, "log to published model": train (which includes the parse) + save + load +
  publish, against the 15-minute target on this machine (PASS / MISS).

Model settings come from the environment as for the trainer (TRAIN_EPOCHS, TRAIN_EVAL_USERS,
TRAIN_NUM_THREADS, ... see services/trainer/config.py); they are recorded with the results.
The JSON file is merged by preset: running `--presets full` keeps an earlier `default` entry
(every entry carries its own time stamp and settings).
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
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT / "services", ROOT):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

TARGET_SECONDS = 15 * 60
DEFAULT_JSON = "loadtests/results/trainer-bench.json"
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


def _die_with_parent(sig: int = signal.SIGKILL):
    """preexec_fn: the child gets `sig` when the benchmark dies, even by SIGKILL (Linux)."""
    def setup():
        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
        except OSError:
            pass
    return setup


# --- a throwaway redis-server ------------------------------------------------------------------

def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThrowawayRedis:
    """redis-server on a free loopback port with a random password, no persistence."""

    def __init__(self):
        self.binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.workdir = Path(tempfile.mkdtemp(prefix="bench-redis-"))
        self.proc: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        return {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.port), "REDIS_PASSWORD": self.password,
                "REDIS_DB": "0", "REDIS_URL": "", "WEIGHTS_PREFIX": "bench"}

    def start(self) -> "ThrowawayRedis":
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError(f"redis-server not found ({self.binary}): run `make install`")
        self.proc = subprocess.Popen(  # nosec B603  # redis-server, fixed arguments
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--requirepass", self.password,
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir),
             "--logfile", str(self.workdir / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(signal.SIGTERM))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                log_text = (self.workdir / "redis.log").read_text(errors="replace")[-500:] if (self.workdir / "redis.log").exists() else ""
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} before listening: {log_text}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server not listening on 127.0.0.1:{self.port} after 15 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        shutil.rmtree(self.workdir, ignore_errors=True)


# --- worker: one step in a fresh process --------------------------------------------------------

def worker_generate(preset: str, data_dir: Path) -> dict:
    from trainer.generate import generate

    say(f"generate {preset}: trainer.generate.generate -> {data_dir}")
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


def worker_bench(preset: str, data_dir: Path) -> dict:
    import numpy as np  # noqa: F401  (imported before timing, as by the trainer)

    from common.redisconf import RedisSettings, connect
    from common.weightcache import WeightStore
    from trainer import artifacts
    from trainer.config import ModelConfig
    from trainer.pipeline import DataSource, train
    from trainer.publish import publish

    @dataclass(frozen=True)
    class MeasuredSource(DataSource):
        """DataSource whose load() (trainer.tables.load_simulator_dir) is timed."""

        probe: dict = field(default_factory=dict, compare=False, repr=False)

        def load(self):
            say(f"{preset}: parse: trainer.tables.load_simulator_dir({self.path})")
            started = time.perf_counter()
            raw = super().load()
            seconds = time.perf_counter() - started
            self.probe.update(seconds=seconds, reports=raw.reports, rss_peak_mb=rss_peak_mb(), cpu=cpu_seconds())
            return raw

    result: dict = {"preset": preset, "data_dir": str(data_dir)}
    config = ModelConfig.from_env()
    result["config"] = dict(config.fingerprint_fields(), num_threads=config.num_threads)
    result["env"] = {k: v for k, v in sorted(os.environ.items()) if k.startswith("TRAIN_")}
    source = MeasuredSource(data_dir, "simulator")
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
    events = reports[-1]
    parse_seconds = source.probe["seconds"]
    total_lines = sum(r.lines for r in reports)
    result["parse"] = {
        "seconds": round(parse_seconds, 2),
        "lines": total_lines, "event_lines": events.lines,
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
    seconds = dict(stats["seconds"])
    detail = dict(stages.seconds)
    evaluate_seconds = (meta.get("report") or {}).get("protocol", {}).get("seconds")
    if evaluate_seconds is not None:
        detail["evaluate_call"] = evaluate_seconds
        detail["build_interactions"] = round(seconds["evaluate"] - evaluate_seconds, 1)
        if "evaluation_fit" in detail:
            detail["evaluation_scoring_and_split"] = round(evaluate_seconds - detail["evaluation_fit"], 1)
    if "final_fit" in detail and "bundle_export" in detail:
        detail["final_feature_space"] = round(seconds["fit_and_export"] - detail["final_fit"] - detail["bundle_export"], 1)
    report = meta.get("report") or {}
    result["train"] = {
        "seconds": round(train_seconds, 2),
        "cpu_seconds": round(cpu["after_train"] - cpu["start"], 1),
        "cores_used": round((cpu["after_train"] - cpu["start"]) / train_seconds, 2) if train_seconds else None,
        "stage_seconds": seconds,            # what train() records in meta["stats"]["seconds"]
        "detail_seconds": detail,            # from the trainer's log lines
        "stats": {k: v for k, v in stats.items() if k != "seconds"},
        "precision@10": {"model": report.get("model", {}).get("precision@10"),
                         "popularity": report.get("popularity", {}).get("precision@10")},
        "cold_start_precision@10": {k: v.get("precision@10") for k, v in report.get("cold_start", {}).items()},
    }
    say(f"{preset}: trained in {train_seconds:.1f} s (stages {seconds}); "
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

    # -- publish + fetch ----------------------------------------------------------------------
    settings = RedisSettings.from_env()
    store = WeightStore(connect(settings), prefix=settings.prefix)
    say(f"{preset}: publish: trainer.publish.publish(saved, store, force=True) -> redis {settings.describe()}")
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
    memory = store.client.info("memory")
    result["publish"] = {
        "version": version, "seconds": round(publish_seconds, 2), "fetch_seconds": round(fetch_seconds, 2),
        "total_bytes": manifest.total_bytes,
        "arrays": {name: {"dtype": e.dtype, "shape": list(e.shape), "bytes": e.nbytes, "chunks": len(e.chunks)}
                   for name, e in manifest.arrays.items()},
        "redis_used_memory": memory.get("used_memory"), "redis_used_memory_peak": memory.get("used_memory_peak"),
        "redis_used_memory_rss": memory.get("used_memory_rss"),
    }
    del arrays
    e2e = train_seconds + save_seconds + load_seconds + publish_seconds
    result["end_to_end"] = {
        "seconds": round(e2e, 2),
        "formula": "train (includes the parse) + save + load + publish",
        "parse_train_publish_seconds": round(train_seconds + publish_seconds, 2),
        "target_seconds": TARGET_SECONDS, "meets_target": e2e <= TARGET_SECONDS,
    }
    result["rss_peak_mb"] = rss_peak_mb()
    result["children_rss_peak_mb"] = rss_peak_mb(resource.RUSAGE_CHILDREN)
    say(f"{preset}: published {manifest.total_bytes / 1e6:.1f} MB in {publish_seconds:.1f} s, fetched in "
        f"{fetch_seconds:.1f} s; log to published model {e2e:.1f} s")
    return result


def run_worker(args) -> int:
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


def run_step(kind: str, preset: str, data_dir: Path, env: dict | None = None,
             timeout: float | None = None) -> tuple[dict, float]:
    """Run `kind` in a fresh interpreter; (its result, its peak RSS in MB from wait4)."""
    with tempfile.NamedTemporaryFile(prefix=f"bench-{kind}-", suffix=".json", delete=False) as handle:
        result_path = Path(handle.name)
    command = [sys.executable, str(Path(__file__).resolve()), WORKER_FLAG, kind, preset, str(data_dir),
               "--_result", str(result_path)]
    proc = subprocess.Popen(command, cwd=ROOT, env=dict(os.environ, **(env or {})),  # nosec B603  # this Python on this script
                            preexec_fn=_die_with_parent(signal.SIGKILL))
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


def bench_preset(preset: str, data_root: Path, keep_data: bool, timeout: float | None) -> dict:
    from trainer.generate import PRESETS
    from trainer.pipeline import DataSource

    if preset not in PRESETS:
        raise StepFailed(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    data_dir = data_root / preset
    generated = None
    if not DataSource(data_dir, "simulator").has_data():
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
        redis = ThrowawayRedis()
        try:
            say(f"{preset}: starting a throwaway redis-server on 127.0.0.1:{redis.port}")
            redis.start()
            say(f"{preset}: benchmark in a fresh process (parse, train, save/load, publish, fetch)")
            result, peak = run_step("bench", preset, data_dir, env=redis.env, timeout=timeout)
        finally:
            say(f"{preset}: stopping redis-server (port {redis.port})")
            redis.stop()
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


# --- output -------------------------------------------------------------------------------------

def _f(value, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) or digits:
        return f"{value:,.{digits}f}{unit}"
    return f"{value:,}{unit}"


def table(results: dict) -> str:
    names = list(results)
    rows: list[tuple[str, list[str]]] = []

    def row(label, fn):
        cells = []
        for name in names:
            try:
                cells.append(fn(results[name]))
            except (KeyError, TypeError):
                cells.append("n/a")
        rows.append((label, cells))

    row("users / movies (trained)", lambda r: f"{r['train']['stats']['users']:,} / {r['train']['stats']['items']:,}")
    row("interactions / positives", lambda r: f"{r['train']['stats']['interactions']:,} / {r['train']['stats']['positives']:,}")
    row("threads / epochs / components", lambda r: f"{r['config']['num_threads']} / {r['config']['epochs']} / {r['config']['no_components']}")
    row("generated by this run", lambda r: (f"yes: {r['generated']['seconds']:.1f} s, {r['generated']['bytes'] / 1e6:,.0f} MB, "
                                            f"peak {r['generated']['rss_peak_mb']:,.0f} MB") if r["generated"] else "no (existing data)")
    row("event log size (MB)", lambda r: _f(r["log_bytes"] / 1e6))
    row("parse: lines (all files)", lambda r: f"{r['parse']['lines']:,}")
    row("parse: seconds", lambda r: _f(r["parse"]["seconds"], 2))
    row("parse: lines/s", lambda r: f"{r['parse']['lines_per_s']:,}")
    row("parse: MB/s", lambda r: _f(r["parse"]["mb_per_s"]))
    row("train(): wall seconds", lambda r: _f(r["train"]["seconds"]))
    for stage in ("load", "evaluate", "fit_and_export"):
        row(f"  stats.seconds.{stage}", lambda r, s=stage: _f(r["train"]["stage_seconds"][s]))
    for stage, label in (("build_interactions", "build_interactions"), ("evaluation_fit", "evaluation fit (LightFM)"),
                         ("evaluation_scoring_and_split", "evaluation split + scoring"),
                         ("final_feature_space", "final feature space"), ("final_fit", "final fit (LightFM)"),
                         ("bundle_export", "bundle export (top-k lists)")):
        row(f"    {label}", lambda r, s=stage: _f(r["train"]["detail_seconds"][s]))
    row("train(): CPU s / cores used", lambda r: f"{r['train']['cpu_seconds']:,.0f} / {r['train']['cores_used']:.2f}")
    row("load average before / after", lambda r: f"{r['step']['load_average_before'][0]:.1f} / {r['step']['load_average_after'][0]:.1f}")
    row("precision@10 model / popularity", lambda r: f"{r['train']['precision@10']['model']:.4f} / {r['train']['precision@10']['popularity']:.4f}")
    row("save + load model dir (s)", lambda r: f"{r['save_load']['save_seconds']:.1f} + {r['save_load']['load_seconds']:.1f}")
    row("peak RSS, whole step (MB)", lambda r: _f(r["rss_peak_mb_wait4"], 0))
    row("peak RSS after parse / train (MB)", lambda r: f"{r['rss_marks_mb']['after_parse']:,.0f} / {r['rss_marks_mb']['after_train']:,.0f}")
    row("published size (MB)", lambda r: _f(r["publish"]["total_bytes"] / 1e6))
    row("redis used_memory (MB)", lambda r: _f(r["publish"]["redis_used_memory"] / 1e6))
    row("publish seconds (incl. verify)", lambda r: _f(r["publish"]["seconds"], 2))
    row("fetch seconds (one replica)", lambda r: _f(r["publish"]["fetch_seconds"], 2))
    row("log -> published model (s)", lambda r: _f(r["end_to_end"]["seconds"]))
    row(f"target {TARGET_SECONDS // 60} min on {os.cpu_count()} cores",
        lambda r: ("PASS" if r["end_to_end"]["meets_target"] else "MISS") + f" ({r['end_to_end']['seconds'] / 60:.1f} min)")

    width = max(len(label) for label, _ in rows) + 2
    widths = [max(len(name), *(len(cells[i]) for _, cells in rows)) for i, name in enumerate(names)]
    lines = ["".ljust(width) + "  ".join(n.rjust(w) for n, w in zip(names, widths))]
    lines.append("-" * len(lines[0]))
    for label, cells in rows:
        lines.append(label.ljust(width) + "  ".join(c.rjust(w) for c, w in zip(cells, widths)))
    return "\n".join(lines)


def write_json(path: Path, results: dict, failures: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        doc = json.loads(path.read_text())
        if not isinstance(doc.get("presets"), dict):
            doc = {}
    except (OSError, ValueError):
        doc = {}
    doc.setdefault("presets", {}).update(results)
    doc.setdefault("failures", {})
    for name in results:
        doc["failures"].pop(name, None)
    doc["failures"].update(failures)
    doc["target_seconds"] = TARGET_SECONDS
    doc["end_to_end"] = "train (includes the parse) + save + load + publish"
    doc["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="default", help="comma-separated presets (default: default)")
    parser.add_argument("--data-root", default="data/generated", help="<data-root>/<preset> holds each preset's data")
    parser.add_argument("--json", default=DEFAULT_JSON, help=f"results file, merged by preset (default: {DEFAULT_JSON})")
    parser.add_argument("--keep-data", action="store_true", help="keep data this run generated (default: delete it afterwards)")
    parser.add_argument("--timeout", type=float, help="kill a step (generation or benchmark) after this many seconds")
    parser.add_argument(WORKER_FLAG, nargs=3, dest="worker", metavar=("KIND", "PRESET", "DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--_result", dest="result", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args)

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
    if results:
        print(table(results))
        for name, result in results.items():
            print(f"\n{name}: parse reports:\n  " + "\n  ".join(result["parse"]["reports"]))
    for name, error in failures.items():
        print(f"\n{name}: FAILED: {error}")
    print(f"\nresults in {json_path}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
