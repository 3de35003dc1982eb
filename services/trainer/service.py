"""`trainer serve`: what the trainer container runs.

On start: generate the preset data if the data directory is empty; reuse the saved model when the
data fingerprint and config are unchanged, else train; publish unless Redis already holds this
model (so a version an operator rolled back from stays rolled back). Then keep watching: every
RETRAIN_INTERVAL seconds (if set) look for new event files and retrain, and retrain at once when RETRAIN_MIN_EVENTS new events (if set) have arrived (counted
from the event files' growth in bytes at the newest file's average line length: cheap, and a
merged or moved file changes nothing); every few seconds make sure Redis still has a current
version (a Redis that lost its data gets the model again). A retrained model goes through the gate.
Metrics on TRAINER_METRICS_PORT (trainer/service_metrics.py).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from pathlib import Path

import redis

from common.redisconf import RedisSettings, RedisUnavailable, connect, explain
from common.weightcache import WeightCacheError, WeightStore
from trainer import artifacts
from trainer.config import ModelConfig, ServiceConfig
from trainer.loaders.report import DataFormatError
from trainer.loaders.source import MOVIELENS, DataSource
from trainer.pipeline import train_and_save
from trainer.publish import GateRejected, publish, published_fingerprints
from trainer.service_metrics import TrainerMetrics

log = logging.getLogger(__name__)
CHECK_INTERVAL = 5.0


def connect_with_retry(settings: RedisSettings, stop: threading.Event, max_delay: float = 10.0) -> redis.Redis:
    delay = 0.5
    while not stop.is_set():
        try:
            return connect(settings)
        except RedisUnavailable as error:
            log.warning("%s; retrying in %.1f s", error, delay)
            stop.wait(delay)
            delay = min(max_delay, delay * 2)
    raise SystemExit(0)


def ensure_data(source: DataSource, config: ServiceConfig) -> None:
    if source.has_data():
        return
    if source.kind == MOVIELENS or not config.data_preset:
        raise FileNotFoundError(f"{source.path}: no data found and no DATA_PRESET to generate it from")
    from trainer.synthetic.generate import generate

    log.info("no data in %s: generating preset %r", source.path, config.data_preset)
    summary = generate(config.data_preset, source.path)
    log.info("generated: %s", summary)


def ensure_model(source: DataSource, service: ServiceConfig, model: ModelConfig,
                 metrics: TrainerMetrics | None = None) -> artifacts.SavedModel:
    metrics = metrics or TrainerMetrics()
    wanted = source.fingerprint(model)
    reused = artifacts.saved_fingerprint(service.model_dir) == wanted
    if reused:
        log.info("reusing saved model in %s (fingerprint %s unchanged)", service.model_dir, wanted)
    else:
        log.info("training on %s (fingerprint %s)", source.path, wanted)
        started = time.monotonic()
        try:
            train_and_save(source, model, service.model_dir)
        except Exception:
            metrics.training_failed(time.monotonic() - started)
            raise
    saved = artifacts.load(service.model_dir)
    metrics.trained(saved.meta, reused=reused)
    return saved


def publish_times(store: WeightStore) -> list[float]:
    """When each version the store holds was published (as its manifest says)."""
    times = []
    for version in store.versions():
        try:
            times.append(float(store.manifest(version).metadata.get("published_at") or 0))
        except WeightCacheError:
            continue
    return times


def ensure_published(saved: artifacts.SavedModel, store: WeightStore, force: bool,
                     metrics: TrainerMetrics | None = None) -> None:
    """Publish the saved model unless the store holds it already: current or not, since an
    operator may have rolled back from it (that stays); only a Redis that lost it gets it again."""
    metrics = metrics or TrainerMetrics()
    if saved.meta.get("fingerprint") in published_fingerprints(store):
        return
    try:
        version = publish(saved, store, force=force)
        metrics.published(time.time())
        log.info("serving version %s", version)
    except GateRejected as error:
        metrics.publish_refused(rejected=True)
        log.error("not published: %s", error)
    except (redis.RedisError, WeightCacheError):
        metrics.publish_refused(rejected=False)
        raise


def event_files(source: DataSource) -> list[tuple[Path, os.stat_result]]:
    """The event log files with their stat, listed once per look."""
    if source.kind == MOVIELENS:
        return []
    return [(f, f.stat()) for f in (source.path / "events").glob("*.log")]


def event_bytes(source: DataSource) -> int:
    return sum(info.st_size for _, info in event_files(source))


def new_events(source: DataSource, since_bytes: int, sample: int = 65536) -> int:
    """About how many events arrived since the files held `since_bytes`: the growth in bytes at
    the average line length of the newest file's last `sample` bytes (70 when none says)."""
    files = sorted(event_files(source), key=lambda item: item[1].st_mtime)
    per_line = 70.0
    for path, info in reversed(files):
        with open(path, "rb") as handle:
            handle.seek(max(0, info.st_size - sample))
            data = handle.read()
        if data.count(b"\n") > 1:
            per_line = len(data) / data.count(b"\n")
            break
    return int(max(0, sum(info.st_size for _, info in files) - since_bytes) / per_line)


def serve(service: ServiceConfig, model: ModelConfig, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    settings = RedisSettings.from_env()
    source = DataSource.from_dirs(service.data_dir, service.movielens_dir)
    metrics = TrainerMetrics.from_env()
    metrics.serve()
    metrics.watch_disk(source.path / "events")
    ensure_data(source, service)
    saved = ensure_model(source, service, model, metrics)
    store = WeightStore(connect_with_retry(settings, stop), prefix=settings.prefix, keep=service.keep_versions)
    publish_known = False
    last_training, trained_bytes = time.monotonic(), event_bytes(source)
    watching = service.retrain_interval > 0 or service.retrain_min_events > 0
    rejected_fingerprint = None
    while not stop.is_set():
        try:
            if not publish_known:   # the newest publish before this process started
                metrics.newest_publish(publish_times(store))
                publish_known = True
            if saved.meta.get("fingerprint") != rejected_fingerprint:
                before = store.current_version()
                ensure_published(saved, store, service.force_publish, metrics)
                if saved.meta.get("fingerprint") not in published_fingerprints(store) and store.current_version() == before:
                    rejected_fingerprint = saved.meta.get("fingerprint")   # the gate refused it: not again
        except (redis.RedisError, WeightCacheError) as error:
            log.warning("%s", explain(error, settings) if isinstance(error, redis.RedisError) else error)
        stop.wait(min(CHECK_INTERVAL, service.retrain_interval) if service.retrain_interval > 0 else CHECK_INTERVAL)
        if not watching or stop.is_set():
            continue
        due = service.retrain_interval > 0 and time.monotonic() - last_training >= service.retrain_interval
        arrived = new_events(source, trained_bytes) if service.retrain_min_events > 0 else 0
        if not due and not (service.retrain_min_events > 0 and arrived >= service.retrain_min_events):
            continue
        last_training = time.monotonic()
        if source.fingerprint(model) != saved.meta.get("fingerprint"):
            log.info("new data in %s (about %d new events): retraining", source.path, arrived)
            bytes_before = event_bytes(source)
            try:
                saved = ensure_model(source, service, model, metrics)
                trained_bytes = bytes_before
                log.info("retrained in %.1f s", time.monotonic() - last_training)
            except DataFormatError as error:  # tried again at the next interval
                log.error("not retrained, the current model stays: %s", error)


def run_forever() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve(ServiceConfig.from_env(), ModelConfig.from_env(), stop)
