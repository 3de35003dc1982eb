"""The ingester's Prometheus metrics (served on INGEST_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONSUMED = Counter("ingest_consumed", "Lines consumed from the topic")
WRITTEN = Counter("ingest_written", "Valid event lines written to the trainer's event files")
MALFORMED = Counter("ingest_malformed", "Malformed lines written to the quarantine, by reason", ["reason"])
ERRORS = Counter("ingest_kafka_errors", "Errors reported by the Kafka client (broker away, ...)")
LAG = Histogram("ingest_lag_seconds", "From a line's produce time to its file being on disk",
                buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 30, 60, 300))
BEHIND = Gauge("ingest_partition_lag_messages", "Messages in the topic not yet written, per partition", ["partition"])
LAST_EVENT = Gauge("ingest_last_event_timestamp_seconds", "Event time of the newest line written (seconds since the epoch)")


def reason_label(reason: str) -> str:
    """A low-cardinality label for a malformed line's reason (the reason text carries values)."""
    for prefix in ("bad time", "user id", "minute", "rating", "bad movie id", "watch line", "rate line",
                   "not a log line", "unknown request", "blank", "not UTF-8"):
        if reason.startswith(prefix):
            return prefix
    return "other"
