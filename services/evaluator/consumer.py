"""The evaluator's loop: the event topic and the served-record topic -> the tally -> checkpoints.

Both topics are assigned (`assign()`, every partition, at the committed offsets or the beginning).
Served records go into the index as they come. An event line waits until the served topic has been
read past its own timestamp plus ONLINE_JOIN_SLACK (the replica records an answer before the
simulator logs it), or until the served topic is read to its end and that much wall time has passed:
so a recommendation line always finds its record when there is one, live or in a replay. Every
ONLINE_COMMIT_SECONDS the tally, the index and the offsets are saved together (checkpoint.py);
after a crash the evaluator continues from there, and a replay counts exactly what a run without
the crash counted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from common import served
from evaluator import checkpoint
from evaluator.attribution import ServedIndex
from evaluator.config import EvaluatorConfig
from evaluator.events import parse
from evaluator.summary import series, summarize
from evaluator.tally import Tally

log = logging.getLogger(__name__)
TOPIC_CHECK_SECONDS = 5.0
OFFSET_BEGINNING = -2
APPLY_BATCH = 5000        # event lines applied in one go (a commit can come between two)
MAX_PENDING = 100_000     # event lines waiting for their served records before reading pauses


class Evaluator:
    def __init__(self, config: EvaluatorConfig, clock=time.time):
        self.config, self.clock = config, clock
        self.consumer = Consumer({
            "bootstrap.servers": config.bootstrap, "group.id": "recsys-online", "enable.auto.commit": False,
            "enable.partition.eof": True, "auto.offset.reset": "earliest", "client.id": "recsys-evaluator",
            "reconnect.backoff.max.ms": 1000, "topic.metadata.refresh.interval.ms": 5000, "log_level": 3,
        })
        self.lock = threading.Lock()    # the tally and the index, between the loop and /metrics
        self.tally = Tally(config.window, config.lateness, config.bucket, config.horizon)
        self.index = ServedIndex()
        self.next_offset: dict[str, dict[int, int]] = {config.topic: {}, config.served_topic: {}}
        self.pending: deque = deque()   # (partition, offset, timestamp, value) of event lines not applied yet
        self.at_end: dict[tuple[str, int], bool] = {}
        self.lag: dict[str, int] = {}
        self.stats = {"served_records": 0, "served_bad_lines": 0, "malformed_lines": 0, "kafka_errors": 0}
        self.stopping = False
        self.committed_at = 0.0

    # -- state -----------------------------------------------------------------------------------
    def recover(self) -> None:
        state = checkpoint.load(self.config.state_dir)
        if state is None:
            log.info("no committed state in %s: reading both topics from the beginning", self.config.state_dir)
            return
        self.tally = Tally.from_state(state["tally"])
        wanted = (self.config.window, self.config.lateness, self.config.bucket, self.config.horizon)
        if (self.tally.window, self.tally.lateness, self.tally.bucket, self.tally.horizon) != wanted:
            log.warning("the settings changed since the state was saved; new answers count with the new ones")
            self.tally.window, self.tally.lateness, self.tally.bucket, self.tally.horizon = wanted
        self.index = ServedIndex.from_state(state["index"])
        for topic, offsets in state["offsets"].items():
            self.next_offset.setdefault(topic, {}).update({int(p): int(o) for p, o in offsets.items()})
        self.stats.update(state.get("stats", {}))
        log.info("continuing from the state committed at %s: offsets %s", time.strftime(
            "%Y-%m-%d %H:%M:%S", time.localtime(state.get("saved_at", 0))), state["offsets"])

    def committed_offsets(self) -> dict[str, dict[int, int]]:
        """Where a restart reads on: for the event topic, its first line not applied yet."""
        offsets = {topic: dict(parts) for topic, parts in self.next_offset.items()}
        events = offsets[self.config.topic]
        for partition, offset, _, _ in self.pending:
            events[partition] = min(events.get(partition, offset), offset)
        return offsets

    def commit(self) -> None:
        with self.lock:
            self.tally.prune()
            self.index.prune()
            state = {"saved_at": self.clock(), "offsets": self.committed_offsets(), "tally": self.tally.state(),
                     "index": self.index.state(), "stats": self.stats}
            report = self.report()
        checkpoint.save(self.config.state_dir, state, report)
        self.committed_at = self.clock()

    def report(self) -> dict:
        return {**summarize(self.tally), "series": series(self.tally), "stats": dict(self.stats),
                "generated_at": self.clock(), "lag": dict(self.lag)}

    # -- topics ----------------------------------------------------------------------------------
    def assign_new_partitions(self) -> None:
        wanted = []
        for topic in (self.config.topic, self.config.served_topic):
            try:
                metadata = self.consumer.list_topics(topic, timeout=5).topics.get(topic)
            except KafkaException as error:
                log.warning("no metadata from %s yet: %s", self.config.bootstrap, error)
                return
            if metadata is None or metadata.error is not None:
                continue   # not created yet
            for partition in sorted(metadata.partitions):
                if (topic, partition) in self.at_end:
                    continue
                position = self.next_offset[topic].get(partition, OFFSET_BEGINNING)
                if position >= 0:
                    low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                    if position > high:
                        log.warning("%s[%d]: the broker holds less (%d) than was read (%d): it lost the topic; "
                                    "reading it from the beginning", topic, partition, high, position)
                        position = OFFSET_BEGINNING
                wanted.append(TopicPartition(topic, partition, position))
                self.at_end[(topic, partition)] = False
        if wanted:
            self.consumer.incremental_assign(wanted)
            log.info("assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in wanted))

    def measure_lag(self) -> None:
        for topic in (self.config.topic, self.config.served_topic):
            behind = 0
            for (name, partition) in list(self.at_end):
                if name != topic:
                    continue
                try:
                    _, high = self.consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
                except KafkaException:
                    continue
                behind += max(0, high - self.next_offset[topic].get(partition, 0))
            self.lag[topic] = behind + (len(self.pending) if topic == self.config.topic else 0)

    def served_read_to_end(self) -> bool:
        return all(end for (topic, _), end in self.at_end.items() if topic == self.config.served_topic)

    def ready(self, timestamp: float) -> bool:
        due = timestamp + self.config.join_slack
        return self.index.newest >= due or (self.served_read_to_end() and self.clock() >= due)

    # -- the loop --------------------------------------------------------------------------------
    def step(self, timeout: float = 0.2) -> int:
        """Consume what is there, apply the event lines that are ready; the number applied."""
        messages = self.consumer.consume(2000, timeout=timeout) if len(self.pending) < MAX_PENDING else []
        for message in messages:
            error = message.error()
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self.at_end[(message.topic(), message.partition())] = True
                else:
                    self.stats["kafka_errors"] += 1
                continue
            topic, partition, offset = message.topic(), message.partition(), message.offset()
            kind, stamp = message.timestamp()
            stamp = stamp / 1000 if kind != 0 and stamp > 0 else self.clock()
            self.at_end[(topic, partition)] = False
            self.next_offset[topic][partition] = offset + 1
            if topic == self.config.served_topic:
                records, bad = served.decode(message.value())
                with self.lock:
                    for record in records:
                        self.index.add(record, stamp)
                    self.index.newest = max(self.index.newest, stamp)
                self.stats["served_records"] += len(records)
                self.stats["served_bad_lines"] += bad
            else:
                self.pending.append((partition, offset, stamp, message.value() or b""))
        return self.apply_ready()

    def apply_ready(self) -> int:
        batch = []
        while self.pending and len(batch) < APPLY_BATCH and self.ready(self.pending[0][2]):
            batch.append(self.pending.popleft())
        if not batch:
            return 0
        events = parse([value for _, _, _, value in batch], self.config.protocol)
        with self.lock:
            for (partition, _, stamp, _), event in zip(batch, events):
                if event is None:
                    self.stats["malformed_lines"] += 1
                    continue
                version = None
                if event.kind == "recommendation" and event.value == 200:
                    entry = self.index.take(event.user, event.movies, stamp)
                    version = entry[1] if entry else None
                self.tally.apply(str(partition), event, version)
        return len(batch)

    def run(self, recovered: bool = False) -> None:
        if not recovered:
            self.recover()
        checked = committed = 0.0
        try:
            while not self.stopping:
                now = time.monotonic()
                if now - checked >= TOPIC_CHECK_SECONDS:
                    self.assign_new_partitions()
                    self.measure_lag()
                    checked = now
                    log.debug("pending %d, lag %s, served read to the end: %s", len(self.pending), self.lag,
                              self.served_read_to_end())
                self.step()
                if now - committed >= self.config.commit_seconds:
                    self.commit()
                    committed = now
        finally:
            self.commit()
            self.consumer.close()

    def stop(self) -> None:
        self.stopping = True
