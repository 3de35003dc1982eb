"""`trainer serve`: what the trainer container runs.

On start: generate the preset data if the data directory is empty; reuse the saved model when the
data fingerprint and config are unchanged, else train; publish unless Redis already serves this
model. Then keep watching: every RETRAIN_INTERVAL seconds (if set) look for new event files and
retrain; every few seconds make sure Redis still has a current version (a Redis that lost its
data gets the model again).
"""

from __future__ import annotations

import logging
import signal
import threading
import time

import redis

from common.redisconf import RedisSettings, RedisUnavailable, connect, explain
from common.weightcache import WeightCacheError, WeightStore
from trainer import artifacts
from trainer.config import ModelConfig, ServiceConfig
from trainer.dataset import DataFormatError
from trainer.pipeline import DataSource, train_and_save
from trainer.publish import GateRejected, current_fingerprint, publish

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


def source_for(config: ServiceConfig) -> DataSource:
    if config.movielens_dir is not None:
        return DataSource(config.movielens_dir, "movielens")
    return DataSource(config.data_dir, "simulator")


def ensure_data(source: DataSource, config: ServiceConfig) -> None:
    if source.has_data():
        return
    if source.kind == "movielens" or not config.data_preset:
        raise FileNotFoundError(f"{source.path}: no data found and no DATA_PRESET to generate it from")
    from trainer.generate import generate

    log.info("no data in %s: generating preset %r", source.path, config.data_preset)
    summary = generate(config.data_preset, source.path)
    log.info("generated: %s", summary)


def ensure_model(source: DataSource, service: ServiceConfig, model: ModelConfig) -> artifacts.SavedModel:
    wanted = source.fingerprint(model)
    if artifacts.saved_fingerprint(service.model_dir) == wanted:
        log.info("reusing saved model in %s (fingerprint %s unchanged)", service.model_dir, wanted)
    else:
        log.info("training on %s (fingerprint %s)", source.path, wanted)
        train_and_save(source, model, service.model_dir)
    return artifacts.load(service.model_dir)


def ensure_published(saved: artifacts.SavedModel, store: WeightStore, force: bool) -> None:
    if current_fingerprint(store) == saved.meta.get("fingerprint"):
        return
    try:
        version = publish(saved, store, force=force)
        log.info("serving version %s", version)
    except GateRejected as error:
        log.error("not published: %s", error)


def serve(service: ServiceConfig, model: ModelConfig, stop: threading.Event | None = None) -> None:
    stop = stop or threading.Event()
    settings = RedisSettings.from_env()
    source = source_for(service)
    ensure_data(source, service)
    saved = ensure_model(source, service, model)
    store = WeightStore(connect_with_retry(settings, stop), prefix=settings.prefix, keep=service.keep_versions)
    last_training = time.monotonic()
    rejected_fingerprint = None
    while not stop.is_set():
        try:
            if saved.meta.get("fingerprint") != rejected_fingerprint:
                before = store.current_version()
                ensure_published(saved, store, service.force_publish)
                if current_fingerprint(store) != saved.meta.get("fingerprint") and store.current_version() == before:
                    rejected_fingerprint = saved.meta.get("fingerprint")
        except (redis.RedisError, WeightCacheError) as error:
            log.warning("%s", explain(error, settings) if isinstance(error, redis.RedisError) else error)
        stop.wait(min(CHECK_INTERVAL, service.retrain_interval) if service.retrain_interval > 0 else CHECK_INTERVAL)
        if service.retrain_interval > 0 and time.monotonic() - last_training >= service.retrain_interval:
            last_training = time.monotonic()
            if source.fingerprint(model) != saved.meta.get("fingerprint"):
                log.info("new data in %s: retraining", source.path)
                try:
                    saved = ensure_model(source, service, model)
                except DataFormatError as error:  # tried again at the next interval
                    log.error("not retrained, the current model stays: %s", error)


def run_forever() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serve(ServiceConfig.from_env(), ModelConfig.from_env(), stop)
