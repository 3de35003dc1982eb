"""Where the event lines go: the Kafka topic (confluent-kafka), keyed by user id so that one
user's events stay in order in one partition. The producer buffers while the broker is away and
delivers when it is back; lines it could not deliver in the end are counted."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from confluent_kafka import KafkaException, Producer

log = logging.getLogger(__name__)


class KafkaSink:
    def __init__(self, bootstrap: str, topic: str, sent_log: str = ""):
        self.topic = topic
        self.producer = Producer({
            "bootstrap.servers": bootstrap, "linger.ms": 20, "client.id": "simulator",
            "queue.buffering.max.messages": 1_000_000, "message.timeout.ms": 600_000,
            "reconnect.backoff.max.ms": 1000,
        })
        self.delivered = self.failed = 0
        self._lock = threading.Lock()
        self._sent = open(sent_log, "a", encoding="utf-8") if sent_log else None  # noqa: SIM115  # closed in close()

    def _on_delivery(self, error, message) -> None:
        with self._lock:
            if error is None:
                self.delivered += 1
            else:
                self.failed += 1
        if error is not None and self.failed in (1, 10, 100, 1000):
            log.warning("could not deliver %d line(s) so far: %s", self.failed, error)

    def send(self, user: int, line: str, corruption: str | None = None) -> None:
        """Hand one line to the producer; the sent log (SIM_SENT_LOG) records it as
        "ok<TAB>line" or "<corruption><TAB>line"."""
        data = line.encode()
        while True:
            try:
                self.producer.produce(self.topic, data, key=str(user).encode(), on_delivery=self._on_delivery)
                break
            except BufferError:
                self.producer.poll(0.1)  # the local queue is full (a broker outage): wait for room
            except KafkaException as error:
                log.warning("produce failed: %s", error)
                self.producer.poll(0.5)
        if self._sent:
            self._sent.write(f"{corruption or 'ok'}\t{line}\n")
        self.producer.poll(0)

    def close(self, timeout: float = 30.0) -> int:
        """Flush; returns the lines still undelivered."""
        left = self.producer.flush(timeout)
        if self._sent:
            self._sent.close()
        return left


def sent_lines(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """(valid lines sent, [(corruption, line)]) from a sent log."""
    valid, corrupted = [], []
    for entry in Path(path).read_text(encoding="utf-8").splitlines():
        flag, _, line = entry.partition("\t")
        if flag == "ok":
            valid.append(line)
        else:
            corrupted.append((flag, line))
    return valid, corrupted
