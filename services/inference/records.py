"""A record of every served answer, for provenance and online evaluation: time, request id, user,
model version, how the user was resolved, the list (common/served.py). Sent to a Kafka topic
(SERVED_TOPIC, default `recsys-served`, on KAFKA_BOOTSTRAP_SERVERS; off when that is unset).

The answer path only appends a tuple to a bounded in-process queue (`record()`, well under a
microsecond, no lock of ours, no I/O). A background thread takes what has gathered every
SERVED_FLUSH_SECONDS and hands it to librdkafka as one message per batch, whose own threads send
it. A record that does not fit in the queue, or whose batch could not be delivered within
SERVED_TIMEOUT seconds (the broker away), is dropped and counted:
`recsys_served_records_total{outcome="queued"|"dropped"|"delivered"|"lost"}`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from common import served
from inference import metrics

log = logging.getLogger(__name__)
BATCH_LIMIT = 1000   # records per Kafka message (about 400 kB)


class ServedRecords:
    def __init__(self, bootstrap: str, topic: str, replica: str, queue_limit: int = 100_000, timeout: float = 10.0,
                 flush_seconds: float = 0.25):
        from confluent_kafka import Producer

        self.topic, self.replica, self.queue_limit, self.flush_seconds = topic, replica, queue_limit, flush_seconds
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "client.id": f"recsys-{replica}", "linger.ms": 50,
            "queue.buffering.max.messages": max(10, queue_limit // BATCH_LIMIT * 4),
            "queue.buffering.max.kbytes": 256 * 1024, "compression.type": "lz4",
            "message.timeout.ms": int(timeout * 1000),
            "reconnect.backoff.max.ms": 1000, "log_level": 2,  # a broker away is counted, not logged per try
        })
        self._pending: deque = deque()
        self._stop = threading.Event()
        self._sender = threading.Thread(target=self._run, name="served-records", daemon=True)
        self._sender.start()

    def record(self, request_id: str, user_id: int, version: str, kind: str, movies: list[str]) -> None:
        if len(self._pending) >= self.queue_limit:
            metrics.SERVED_RECORDS.labels(outcome="dropped").inc()
            return
        self._pending.append(served.Served(round(time.time(), 3), request_id, user_id, version, kind, movies, self.replica))

    def _run(self) -> None:
        while not self._stop.wait(self.flush_seconds):
            self.flush()
        self.flush()

    def flush(self) -> int:
        """Hand what has gathered to the producer; the number of records handed over."""
        handed = 0
        while self._pending:
            batch = []
            while self._pending and len(batch) < BATCH_LIMIT:
                batch.append(self._pending.popleft())
            handed += self._produce(batch)
        self.producer.poll(0)
        return handed

    def _produce(self, batch: list) -> int:
        count = len(batch)

        def delivered(error, message) -> None:
            metrics.SERVED_RECORDS.labels(outcome="lost" if error is not None else "delivered").inc(count)

        try:
            self.producer.produce(self.topic, served.encode(batch), on_delivery=delivered)
        except BufferError:   # librdkafka's queue is full: the broker has been away for a while
            metrics.SERVED_RECORDS.labels(outcome="dropped").inc(count)
            return 0
        except Exception:  # noqa: BLE001  # a record must never take the sender down
            metrics.SERVED_RECORDS.labels(outcome="dropped").inc(count)
            log.exception("served records not queued")
            return 0
        metrics.SERVED_RECORDS.labels(outcome="queued").inc(count)
        return count

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._sender.join(timeout)
        self.producer.flush(timeout)
