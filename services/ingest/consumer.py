"""The consume loop: Kafka -> batches per partition -> the trainer's parser -> files -> commit.

Partitions are assigned (`assign()`, not a group join: instant on every broker) at the position
the files say (store.py), else the committed offset, else the earliest. A batch is written when
it holds INGEST_BATCH_LINES lines or is INGEST_BATCH_SECONDS old; its offsets are committed only
after its files are on disk. The broker going away only pauses the loop (librdkafka reconnects);
offsets that go backwards mean the broker lost the topic (a memory-only broker restarted): the
partition starts a new epoch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from ingest import metrics
from ingest.classify import classify
from ingest.config import IngestConfig
from ingest.store import EventStore

log = logging.getLogger(__name__)
TOPIC_CHECK_SECONDS = 10.0
HOUSEKEEPING_SECONDS = 30.0


@dataclass
class Batch:
    first: int
    started: float = field(default_factory=time.monotonic)
    lines: list[bytes] = field(default_factory=list)
    created_ms: list[int] = field(default_factory=list)
    last: int = -1


class Ingester:
    def __init__(self, config: IngestConfig):
        self.config = config
        self.store = EventStore(config.events_dir, config.quarantine, config.topic)
        self.consumer = Consumer({
            "bootstrap.servers": config.bootstrap, "group.id": config.group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "client.id": "recsys-ingest", "reconnect.backoff.max.ms": 1000,
            "topic.metadata.refresh.interval.ms": 5000,
        })
        self.positions: dict[int, tuple[int, int]] = {}   # partition -> (epoch, next offset)
        self.assigned: set[int] = set()
        self.batches: dict[int, Batch] = {}
        self.stopping = False

    # -- where to start -----------------------------------------------------------------------
    def recover(self) -> None:
        removed = self.store.recover()
        if removed:
            log.info("removed what an earlier run left half-done: %s", ", ".join(removed[:10]))
        self.positions = self.store.positions()
        log.info("positions from the files: %s", self.positions or "none yet")

    def assign_new_partitions(self) -> None:
        try:
            topic = self.consumer.list_topics(self.config.topic, timeout=5).topics.get(self.config.topic)
        except KafkaException as error:
            log.warning("no metadata from %s yet: %s", self.config.bootstrap, error)
            return
        if topic is None or topic.error is not None or not topic.partitions:
            return  # not created yet (topics appear with the first produced line)
        new = sorted(set(topic.partitions) - self.assigned)
        if not new:
            return
        committed = {tp.partition: tp.offset for tp in self.consumer.committed(
            [TopicPartition(self.config.topic, p) for p in new], timeout=10)}
        wanted = []
        for p in new:
            epoch, position = self.positions.get(p, (0, committed.get(p, -1)))
            if position < 0:
                position = -2   # OFFSET_BEGINNING
            else:
                low, high = self.consumer.get_watermark_offsets(TopicPartition(self.config.topic, p), timeout=10)
                if position > high:   # the broker holds less than we wrote: it lost the topic
                    log.warning("partition %d: the broker has offsets %d..%d but the files reach %d; the broker "
                                "lost the topic, starting epoch %d", p, low, high, position, epoch + 1)
                    epoch, position = epoch + 1, low
            self.positions[p] = (epoch, max(position, 0))
            wanted.append(TopicPartition(self.config.topic, p, position))
        self.assigned |= set(new)
        self.consumer.incremental_assign(wanted)
        log.info("consuming %s partitions %s", self.config.topic, {tp.partition: tp.offset for tp in wanted})

    # -- batches ------------------------------------------------------------------------------
    def take(self, message) -> None:
        p, offset = message.partition(), message.offset()
        pending = self.batches.get(p)
        expected = pending.last + 1 if pending else self.positions.get(p, (0, 0))[1]
        if offset < expected:   # offsets never go back, unless the broker lost the topic
            self.flush(p)
            epoch = self.positions.get(p, (0, 0))[0] + 1
            log.warning("partition %d: offset %d after %d: the broker lost the topic; epoch %d starts",
                        p, offset, expected - 1, epoch)
            self.positions[p] = (epoch, offset)
        batch = self.batches.setdefault(p, Batch(first=offset))
        batch.lines.append(message.value() or b"")
        batch.created_ms.append(message.timestamp()[1])
        batch.last = offset
        metrics.CONSUMED.inc()

    def flush(self, partition: int) -> None:
        batch = self.batches.pop(partition, None)
        if batch is None or not batch.lines:
            return
        epoch, _ = self.positions.get(partition, (0, 0))
        valid, quarantined, newest = classify(batch.lines, self.config.protocol)
        self.store.write(partition, epoch, batch.first, batch.last, newest or 0, valid, quarantined)
        self.positions[partition] = (epoch, batch.last + 1)
        self.consumer.commit(offsets=[TopicPartition(self.config.topic, partition, batch.last + 1)], asynchronous=True)
        now_ms = time.time() * 1000
        for created in batch.created_ms:
            if created > 0:
                metrics.LAG.observe(max(0.0, (now_ms - created) / 1000))
        metrics.WRITTEN.inc(len(valid))
        for reason, _ in quarantined:
            metrics.MALFORMED.labels(reason=metrics.reason_label(reason)).inc()
        if newest:
            metrics.LAST_EVENT.set(newest)

    def flush_due(self, everything: bool = False) -> None:
        now = time.monotonic()
        for p, batch in list(self.batches.items()):
            if everything or len(batch.lines) >= self.config.batch_lines or now - batch.started >= self.config.batch_seconds:
                self.flush(p)

    def housekeeping(self) -> None:
        merged = self.store.compact(self.config.compact_seconds)
        if merged:
            log.info("merged into %s", ", ".join(c.name for c in merged))
        if self.config.retention_days > 0:
            removed = self.store.expire(self.config.retention_days * 86_400)
            if removed:
                log.info("retention (%g days): removed %d files", self.config.retention_days, len(removed))
        for p in self.assigned:
            try:
                _, high = self.consumer.get_watermark_offsets(TopicPartition(self.config.topic, p), timeout=2, cached=False)
            except KafkaException:
                continue
            metrics.BEHIND.labels(partition=str(p)).set(max(0, high - self.positions.get(p, (0, 0))[1]))

    # -- the loop -----------------------------------------------------------------------------
    def run(self, until=None) -> None:
        """Consume until stop() (or `until()` returns True)."""
        self.recover()
        next_topic_check = next_housekeeping = 0.0
        while not self.stopping and not (until and until()):
            now = time.monotonic()
            if now >= next_topic_check:
                self.assign_new_partitions()
                next_topic_check = now + (TOPIC_CHECK_SECONDS if self.assigned else 1.0)
            for message in self.consumer.consume(num_messages=min(self.config.batch_lines, 10_000), timeout=0.2):
                error = message.error()
                if error is None:
                    self.take(message)
                elif error.code() != KafkaError._PARTITION_EOF:
                    metrics.ERRORS.inc()
                    log.warning("kafka: %s", error)
            self.flush_due()
            if now >= next_housekeeping:
                self.housekeeping()
                next_housekeeping = now + HOUSEKEEPING_SECONDS
        self.flush_due(everything=True)
        self.consumer.close()

    def stop(self) -> None:
        self.stopping = True
