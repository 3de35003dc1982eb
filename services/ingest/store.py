"""The ingester's files: exactly-once event files out of at-least-once delivery (the way Kafka
Connect's file sinks do it, ../shared/style.md).

Every file holds the lines of one partition's offsets first..last, and is named after them:

    <events dir>/<topic>-p<partition>-e<epoch>-<first offset>-<last offset>-t<newest event>[-h].log
    <quarantine dir>/<same name>          malformed lines as "<reason>\t<line>"

A file is written to a temporary name, fsynced, renamed, and the directory fsynced; only then
are the offsets committed to Kafka, and the committed offset is only a hint: after a restart the
position of a partition is one past the highest offset its files hold. A replay after a crash
writes what is missing again, and never a second copy of what is there. Quarantine files are
written before the event file of the same batch, so an event file always has its quarantine
written; a quarantine file beyond the position (its event file was never renamed) is removed at
start. Batches are merged into files of about an hour of events (`compact`, marked `-h`); a
crash in the middle leaves batches inside a merged range, removed at start. `epoch` counts the times the
broker lost the topic (a memory-only broker that restarted): offsets start again at 0 then.
`<newest event>` (seconds since the epoch, event time) is what retention looks at.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

NAME = re.compile(r"(?P<topic>.+)-p(?P<partition>\d+)-e(?P<epoch>\d+)-(?P<first>\d{12})-(?P<last>\d{12})"
                  r"-t(?P<newest>\d+)(?P<merged>-h)?\.log")


@dataclass(frozen=True, order=True)
class Chunk:
    partition: int
    epoch: int
    first: int
    last: int
    newest: int
    topic: str
    merged: bool = False    # an hour file made by compact(), not one batch

    @property
    def name(self) -> str:
        return (f"{self.topic}-p{self.partition}-e{self.epoch}-{self.first:012d}-{self.last:012d}-t{self.newest}"
                f"{'-h' if self.merged else ''}.log")

    def covers(self, other: "Chunk") -> bool:
        return (self.partition, self.epoch) == (other.partition, other.epoch) and self.first <= other.first \
            and other.last <= self.last and self != other


def parse_name(name: str) -> Chunk | None:
    match = NAME.fullmatch(name)
    if not match:
        return None
    return Chunk(int(match["partition"]), int(match["epoch"]), int(match["first"]), int(match["last"]),
                 int(match["newest"]), match["topic"], bool(match["merged"]))


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class EventStore:
    def __init__(self, events_dir: Path, quarantine_dir: Path, topic: str):
        self.events_dir, self.quarantine_dir, self.topic = Path(events_dir), Path(quarantine_dir), topic
        for directory in (self.events_dir, self.quarantine_dir):
            directory.mkdir(parents=True, exist_ok=True)

    def chunks(self, directory: Path | None = None) -> list[Chunk]:
        directory = directory or self.events_dir
        found = [parse_name(p.name) for p in directory.iterdir() if p.is_file()]
        return sorted(c for c in found if c is not None and c.topic == self.topic)

    def positions(self) -> dict[int, tuple[int, int]]:
        """{partition: (epoch, next offset)} from the event files."""
        out: dict[int, tuple[int, int]] = {}
        for c in self.chunks():
            epoch, position = out.get(c.partition, (-1, 0))
            if (c.epoch, c.last + 1) > (epoch, position):
                out[c.partition] = (c.epoch, c.last + 1)
        return out

    def recover(self) -> list[str]:
        """Remove what a crash left: temporary files, chunks inside a merged range, quarantine files
        beyond their partition's position. Returns the names removed."""
        removed = []
        for directory in (self.events_dir, self.quarantine_dir):
            for path in directory.glob(f".{self.topic}-p*.tmp"):
                path.unlink(missing_ok=True)
                removed.append(path.name)
            chunks = self.chunks(directory)
            for c in chunks:
                if any(other.covers(c) for other in chunks):
                    (directory / c.name).unlink(missing_ok=True)
                    removed.append(c.name)
        positions = self.positions()
        for c in self.chunks(self.quarantine_dir):
            epoch, position = positions.get(c.partition, (-1, 0))
            if (c.epoch, c.first) >= (epoch, position) or c.epoch > epoch:
                (self.quarantine_dir / c.name).unlink(missing_ok=True)
                removed.append(c.name)
        return removed

    def write(self, partition: int, epoch: int, first: int, last: int, newest: int,
              valid: list[bytes], quarantined: list[tuple[str, bytes]]) -> Chunk:
        """Write one batch of a partition (offsets first..last): quarantine first, then the events."""
        chunk = Chunk(partition, epoch, first, last, newest, self.topic)
        if quarantined:
            write_atomically(self.quarantine_dir / chunk.name,
                             b"".join(reason.encode() + b"\t" + line + b"\n" for reason, line in quarantined))
        write_atomically(self.events_dir / chunk.name, b"".join(line + b"\n" for line in valid))
        return chunk

    def compact(self, span_seconds: float) -> list[Chunk]:
        """Merge each partition's oldest batches into one file once they span `span_seconds` of
        event time (an hour by default); returns the merged files."""
        merged = []
        for directory in (self.events_dir, self.quarantine_dir):
            runs: dict[tuple[int, int], list[Chunk]] = {}
            for c in self.chunks(directory):
                if not c.merged:
                    runs.setdefault((c.partition, c.epoch), []).append(c)
            for run in runs.values():
                later = [i for i, c in enumerate(run) if c.newest - run[0].newest >= span_seconds]
                if not later:
                    continue
                group = run[: later[0]]
                if len(group) < 2:
                    continue
                whole = Chunk(group[0].partition, group[0].epoch, group[0].first, group[-1].last,
                              max(c.newest for c in group), self.topic, merged=True)
                write_atomically(directory / whole.name, b"".join((directory / c.name).read_bytes() for c in group))
                for c in group:
                    (directory / c.name).unlink(missing_ok=True)
                merged.append(whole)
        return merged

    def expire(self, keep_seconds: float) -> list[str]:
        """Remove files whose newest event is older than `keep_seconds` before the newest event of
        all; the last event file of every partition stays (it holds the partition's position)."""
        events = self.chunks()
        every = [(self.events_dir, c) for c in events] + [(self.quarantine_dir, c) for c in self.chunks(self.quarantine_dir)]
        if not every:
            return []
        newest = max(c.newest for _, c in every)
        last = {}
        for c in events:
            last[c.partition] = max(last.get(c.partition, c), c, key=lambda k: (k.epoch, k.last))
        removed = []
        for directory, c in every:
            if c.newest < newest - keep_seconds and not (directory == self.events_dir and last.get(c.partition) == c):
                (directory / c.name).unlink(missing_ok=True)
                removed.append(c.name)
        return removed
