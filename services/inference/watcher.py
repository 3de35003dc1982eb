"""Follows the current-version pointer: pub/sub notifications for speed, polling because pub/sub
is at-most-once. Loads a new version in the background and swaps only after it verified and warmed
up; a failed load keeps the old model. Redis going away only pauses the watching."""

from __future__ import annotations

import logging
import threading

import redis

from common.bundle import BundleError
from common.redisconf import RedisSettings, explain
from common.weightcache import WeightCacheError, WeightIntegrityError, WeightStore, version_number
from inference import metrics
from inference.holder import ModelHolder
from inference.loader import ModelLoader

log = logging.getLogger(__name__)


class Watcher(threading.Thread):
    def __init__(self, settings: RedisSettings, holder: ModelHolder, cache_dir, poll_interval: float = 2.0, max_backoff: float = 5.0):
        super().__init__(name="model-watcher", daemon=True)
        self.settings = settings
        self.holder = holder
        self.cache_dir = cache_dir
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self.stop_event = threading.Event()
        self.bad_versions: set[str] = set()
        self.changed = threading.Event()  # set after every swap (tests and benchmarks wait on it)

    def stop(self) -> None:
        self.stop_event.set()

    def run(self) -> None:
        backoff = 0.2
        client = pubsub = None
        outage_logged = False
        while not self.stop_event.is_set():
            try:
                if client is None:
                    # Big reads: a version arrives in few recv() calls, each of which has to win the GIL back
                    # from busy request threads.
                    client = self.settings.client(socket_timeout=max(5.0, self.poll_interval * 2), socket_read_size=4 * 1024 * 1024)
                    store = WeightStore(client, prefix=self.settings.prefix)
                    loader = ModelLoader(store, self.cache_dir)
                    pubsub = store.subscribe()
                self.check(store, loader)
                if outage_logged:
                    log.info("Redis is back; following %s", store.channel)
                    outage_logged = False
                backoff = 0.2
                pubsub.get_message(timeout=self.poll_interval)  # returns early on a notification
            except redis.RedisError as error:
                if not outage_logged:
                    log.warning("%s; serving %s meanwhile", explain(error, self.settings), self.holder.version or "nothing")
                    outage_logged = True
                for closable in (pubsub, client):
                    try:
                        closable and closable.close()
                    except redis.RedisError:
                        pass
                client = pubsub = None
                self.stop_event.wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)

    def check(self, store: WeightStore, loader: ModelLoader) -> None:
        target = store.current_version()
        if target is None or target == self.holder.version or target in self.bad_versions:
            return
        try:
            model = loader.load(target)
        except (WeightCacheError, BundleError) as error:
            reason = "integrity" if isinstance(error, WeightIntegrityError) else "invalid"
            metrics.MODEL_LOAD_FAILURES.labels(reason=reason).inc()
            self.bad_versions.add(target)
            log.error("version %s refused, still serving %s: %s", target, self.holder.version or "nothing", error)
            return
        except OSError as error:
            metrics.MODEL_LOAD_FAILURES.labels(reason="io").inc()
            log.error("version %s could not be mapped, still serving %s: %s", target, self.holder.version or "nothing", error)
            return
        previous = self.holder.swap(model)
        metrics.MODEL_LOADS.inc()
        metrics.MODEL_VERSION.set(version_number(model.version))
        log.info("now serving %s (was %s)", model.version, previous.version if previous else "nothing")
        loader.discard_except({model.version})
        self.changed.set()
