"""A record of every served answer, for provenance and online evaluation: time, request id, user,
model version, how the user was resolved, the list. Sent to a Kafka topic (SERVED_TOPIC, default
`recsys-served`, on KAFKA_BOOTSTRAP_SERVERS; off when that is unset) by librdkafka's own
background thread: `record()` only hands the record over (a few microseconds) and never blocks or
fails an answer. The queue is bounded; a record that does not fit, or that could not be delivered
within SERVED_TIMEOUT seconds (the broker away), is dropped and counted:
`recsys_served_records_total{outcome="queued"|"dropped"|"delivered"|"lost"}`.
"""

from __future__ import annotations

import json
import logging
import threading
import time

from inference import metrics

log = logging.getLogger(__name__)


class ServedRecords:
    def __init__(self, bootstrap: str, topic: str, replica: str, queue_limit: int = 100_000, timeout: float = 10.0):
        from confluent_kafka import Producer

        self.topic, self.replica = topic, replica
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "client.id": f"recsys-{replica}", "linger.ms": 100,
            "queue.buffering.max.messages": queue_limit, "message.timeout.ms": int(timeout * 1000),
            "reconnect.backoff.max.ms": 1000, "log_level": 2,  # a broker away is counted, not logged per try
        })
        self._stop = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="served-records", daemon=True)
        self._poller.start()

    def _delivered(self, error, message) -> None:
        metrics.SERVED_RECORDS.labels(outcome="lost" if error is not None else "delivered").inc()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.producer.poll(0.5)

    def record(self, request_id: str, user_id: int, version: str, kind: str, movies: list[str]) -> None:
        data = json.dumps({"time": round(time.time(), 3), "request_id": request_id, "user_id": user_id,
                           "version": version, "resolved": kind, "movies": movies, "replica": self.replica},
                          separators=(",", ":")).encode()
        try:
            self.producer.produce(self.topic, data, key=str(user_id).encode(), on_delivery=self._delivered)
        except BufferError:
            metrics.SERVED_RECORDS.labels(outcome="dropped").inc()
            return
        except Exception:  # noqa: BLE001  # a record must never fail an answer
            metrics.SERVED_RECORDS.labels(outcome="dropped").inc()
            log.exception("served record not queued")
            return
        metrics.SERVED_RECORDS.labels(outcome="queued").inc()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._poller.join(timeout)
        self.producer.flush(timeout)
