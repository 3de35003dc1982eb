"""Prometheus metrics; multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set (under gunicorn)."""

from __future__ import annotations

import os
import struct
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.8)

REQUESTS = Counter("recsys_requests_total", "HTTP requests answered", ["route", "status"])
LATENCY = Histogram("recsys_request_seconds", "Time to answer a request", ["route"], buckets=LATENCY_BUCKETS)
RECOMMENDATIONS = Counter("recsys_recommendations_total", "Answers by how the user was resolved", ["kind"])
MODEL_VERSION = Gauge("recsys_model_version", "Number of the model version each worker serves (0 = none)", multiprocess_mode="liveall")
MODEL_LOADS = Counter("recsys_model_loads_total", "Model versions loaded and swapped in")
MODEL_LOAD_FAILURES = Counter("recsys_model_load_failures_total", "Model versions that failed to load", ["reason"])
USER_API_CALLS = Counter("recsys_user_api_calls_total", "Calls to the simulator's user API", ["outcome"])
SERVED_RECORDS = Counter("recsys_served_records_total", "Records of served answers (inference/records.py)", ["outcome"])
# Every reason at 0 from the start: a series that first appears at 1 shows no increase() in
# Prometheus, and the alert on refused versions (monitoring/prometheus/rules/models.yml) would miss it.
for _reason in ("integrity", "invalid", "io"):
    MODEL_LOAD_FAILURES.labels(reason=_reason)


def render(attempts: int = 3) -> tuple[bytes, str] | None:
    """The exposition text and its content type; None if the multiprocess files stay unreadable."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return generate_latest(), CONTENT_TYPE_LATEST
    for attempt in range(attempts):
        try:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        except (struct.error, ValueError, OSError):
            # A worker that is just starting may have a metrics file whose header is not written
            # yet; it is complete a moment later.
            time.sleep(0.01)
    return None

