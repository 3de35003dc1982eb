"""Follows the current-version pointer and reports the version it names (the source of TF Serving's
source/loader/manager): pub/sub notifications for speed, polling because pub/sub is at-most-once.

Every look at the pointer reports its version to `aspire` (ModelManager.aspire), which decides
what to do with it, so a report that changed nothing is cheap and a failed load is retried at the
next one. Redis going away only pauses the watching: one log line per outage, reconnects with
backoff, and a line when it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import redis

from common.redisconf import RedisSettings, explain
from common.weightcache import WeightStore

log = logging.getLogger(__name__)


class Watcher(threading.Thread):
    def __init__(self, settings: RedisSettings, aspire: Callable[[str], None], poll_interval: float = 2.0,
                 max_backoff: float = 5.0):
        super().__init__(name="model-watcher", daemon=True)
        self.settings = settings
        self.aspire = aspire
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._stopping = threading.Event()  # not `_stop`: threading.Thread has a method of that name

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop watching; waits up to `timeout` seconds for a report in progress (a load) to end."""
        self._stopping.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    def run(self) -> None:
        backoff = 0.2
        store = pubsub = None
        outage = False
        while not self._stopping.is_set():
            try:
                if store is None:
                    client = self.settings.client(socket_timeout=max(5.0, self.poll_interval * 2))
                    store = WeightStore(client, prefix=self.settings.prefix)
                    pubsub = store.subscribe()  # before reading the pointer: no move is missed in between
                version = store.current_version()
                if outage:
                    log.info("Redis is back; following %s again", store.channel)
                    outage = False
                backoff = 0.2
                if version is not None:
                    self.aspire(version)
                self._wait_for_news(pubsub)
            except redis.RedisError as error:  # also from `aspire`, when Redis went away during a fetch
                if not outage:
                    log.warning("%s; following the model pointer is paused, the loaded model keeps serving",
                                explain(error, self.settings))
                    outage = True
                _close(pubsub, store)
                store = pubsub = None
                self._stopping.wait(backoff)
                backoff = min(self.max_backoff, backoff * 2)
            except Exception:  # a bug must not stop a replica from ever following the pointer again
                log.exception("unexpected error while following the model pointer; trying again")
                self._stopping.wait(self.poll_interval)

    def _wait_for_news(self, pubsub, slice_seconds: float = 0.5) -> None:
        """Until a notification arrives or the poll interval is over, whichever is first; in
        slices, so that stop() needs no longer than one."""
        deadline = time.monotonic() + self.poll_interval
        while not self._stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or pubsub.get_message(timeout=min(remaining, slice_seconds)) is not None:
                return


def _close(pubsub, store) -> None:
    for closable in (pubsub, store.client if store is not None else None):
        try:
            if closable is not None:
                closable.close()
        except redis.RedisError:
            pass
