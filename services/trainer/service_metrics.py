"""The trainer service's Prometheus metrics (`trainer serve`), served on TRAINER_METRICS_PORT.

    trainer_trainings_total{result}              trainings by result: trained, reused (saved model
                                                 still fits the data), failed
    trainer_last_training_success                1 when the last training succeeded, 0 when it failed
    trainer_last_training_duration_seconds       how long the last training took (reused: as saved)
    trainer_last_training_success_timestamp_seconds  when the serving model was trained (0: never)
    trainer_last_publish_timestamp_seconds       the newest publish the weight cache holds (0: none)
    trainer_publishes_total{result}              published, rejected (gate), failed (Redis)
    trainer_data_count{what}                     users, items, interactions, positives, table_users
                                                 of the last training
    trainer_model_max_age_seconds                TRAINER_MODEL_MAX_AGE: the age the ModelStale
                                                 alert allows (monitoring/prometheus/rules/models.yml)
    trainer_event_dir_free_bytes / _size_bytes   the event directory's file system (read per scrape)

Settings: TRAINER_METRICS_PORT (0 = off, the default; `make up`: 9103), TRAINER_METRICS_HOST
(127.0.0.1; 0.0.0.0 in a container), TRAINER_MODEL_MAX_AGE (86400 s).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

log = logging.getLogger(__name__)
DATA_COUNTS = ("users", "items", "interactions", "positives", "table_users")


class MetricsSettingError(ValueError):
    pass


def _number(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise MetricsSettingError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise MetricsSettingError(f"{name}={raw} is outside {low:g}..{high:g}")
    return value


class TrainerMetrics:
    """The metrics of one trainer service, in a registry of their own."""

    def __init__(self, max_age: float = 86400.0, registry: CollectorRegistry | None = None):
        r = self.registry = registry or CollectorRegistry()
        self.trainings = Counter("trainer_trainings", "Trainings by result", ["result"], registry=r)
        self.success = Gauge("trainer_last_training_success", "1 when the last training succeeded, 0 when it failed", registry=r)
        self.duration = Gauge("trainer_last_training_duration_seconds", "Duration of the last training", registry=r)
        self.trained_at = Gauge("trainer_last_training_success_timestamp_seconds", "When the serving model was trained (0: never)", registry=r)
        self.published_at = Gauge("trainer_last_publish_timestamp_seconds", "Newest successful publish in the weight cache (0: none)", registry=r)
        self.publishes = Counter("trainer_publishes", "Publish attempts by result", ["result"], registry=r)
        self.counts = Gauge("trainer_data_count", "Data counts of the last training", ["what"], registry=r)
        Gauge("trainer_model_max_age_seconds", "Age without training or publish the ModelStale alert allows",
              registry=r).set(max_age)
        self.free = Gauge("trainer_event_dir_free_bytes", "Free bytes of the event directory's file system", registry=r)
        self.size = Gauge("trainer_event_dir_size_bytes", "Size of the event directory's file system", registry=r)
        self._newest_publish = 0.0
        for result in ("trained", "reused", "failed"):   # every series from 0: Prometheus sees the first increase
            self.trainings.labels(result=result)
        for result in ("published", "rejected", "failed"):
            self.publishes.labels(result=result)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "TrainerMetrics":
        env = os.environ if env is None else env
        return cls(max_age=_number(env, "TRAINER_MODEL_MAX_AGE", 86400.0, 1, 10 * 365 * 86400))

    def serve(self, env: Mapping[str, str] | None = None) -> int:
        """Start the HTTP endpoint when TRAINER_METRICS_PORT is set; the port (0: off)."""
        env = os.environ if env is None else env
        port = int(_number(env, "TRAINER_METRICS_PORT", 0, 0, 65535))
        if port:
            host = env.get("TRAINER_METRICS_HOST", "").strip() or "127.0.0.1"
            start_http_server(port, addr=host, registry=self.registry)
            log.info("metrics on http://%s:%d/metrics", host, port)
        return port

    # -- what the service reports ---------------------------------------------------------------
    def trained(self, meta: dict, reused: bool) -> None:
        """A model is ready: trained now, or reused from the model directory (`meta`: model.json)."""
        stats = meta.get("stats", {})
        self.trainings.labels(result="reused" if reused else "trained").inc()
        self.success.set(1)
        self.duration.set(float(stats.get("seconds", {}).get("total", 0.0)))
        self.trained_at.set(float(meta.get("created_at") or time.time()))
        for what in DATA_COUNTS:
            if what in stats:
                self.counts.labels(what=what).set(float(stats[what]))

    def training_failed(self, seconds: float) -> None:
        self.trainings.labels(result="failed").inc()
        self.success.set(0)
        self.duration.set(seconds)

    def published(self, at: float | None) -> None:
        self.publishes.labels(result="published").inc()
        self._newest_publish = max(self._newest_publish, at or time.time())
        self.published_at.set(self._newest_publish)

    def publish_refused(self, rejected: bool) -> None:
        self.publishes.labels(result="rejected" if rejected else "failed").inc()

    def newest_publish(self, published_at: list[float]) -> None:
        """The newest `published_at` of the versions the weight cache holds (after a restart)."""
        if published_at:
            self._newest_publish = max(self._newest_publish, *published_at)
            self.published_at.set(self._newest_publish)

    def watch_disk(self, directory: Path) -> None:
        """Report the file system of `directory` (its nearest existing parent) at every scrape."""
        self.free.set_function(lambda: _disk(directory, free=True))
        self.size.set_function(lambda: _disk(directory, free=False))


def _disk(directory: Path, free: bool) -> float:
    """Free (for unprivileged writers) or total bytes of the file system holding `directory`."""
    path = Path(directory)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        st = os.statvfs(path)
    except OSError:
        return float("nan")
    return float((st.f_bavail if free else st.f_blocks) * st.f_frsize)
