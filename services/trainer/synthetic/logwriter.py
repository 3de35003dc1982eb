"""Writing events as the simulator's event log: the exact Kafka line text (built with pyarrow
string kernels), in time order, in files events-0001.log, events-0002.log, ... of at most
max_file_bytes each.

The events come from :func:`trainer.synthetic.samplers.sample_events` (times in ms from the
start); the lines are those of /work/shared/protocol.md::

    2023-10-01T12:34:56,4242,GET /data/m/the+matrix+1999/12.mpg       one per minute watched
    2023-10-01T12:40:01,4242,GET /rate/the+matrix+1999=4               rating 1..5
    2023-10-01T12:30:00.123,4242,recommendation request <server>, status 200, result: ..., 351 ms
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trainer.synthetic.arrays import within_group_index

RECOMMENDATION_SERVER = "17645-team07.lti.cs.cmu.edu:8082"
RECOMMENDATION_LENGTH = 20


def _take(columns: dict, index) -> dict:
    return {key: value[index] for key, value in columns.items()}


def _concat(*parts: dict) -> dict:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _expand(segments: dict) -> dict:
    """One row per watched minute: (ts, user, movie, minute)."""
    lengths = segments["last"] - segments["first"] + 1
    offset = within_group_index(lengths)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return {"ts": segments["ts"][owner] + offset * 60_000, "user": segments["user"][owner],
            "movie": segments["movie"][owner], "minute": segments["first"][owner] + offset}


class _LogWriter:
    """Appends blocks of lines to events-0001.log, events-0002.log, ... of at most max_bytes."""

    def __init__(self, directory: Path, max_bytes: int):
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("events-*.log"):
            old.unlink()
        self.directory, self.max_bytes = directory, max_bytes
        self.files: list[str] = []
        self.bytes = 0
        self._file = None
        self._size = 0
        self._open()

    def _open(self):
        if self._file is not None:
            self._file.close()
        name = f"events-{len(self.files) + 1:04d}.log"
        self.files.append(name)
        self._file = open(self.directory / name, "wb")
        self._size = 0

    def write(self, lines: pa.Array) -> None:
        """Write a string array whose elements each end in a newline, splitting between lines."""
        if not len(lines):
            return
        offsets = np.frombuffer(lines.buffers()[1], np.int32)[lines.offset:
                                                               lines.offset + len(lines) + 1]
        data = memoryview(lines.buffers()[2])
        pos = 0
        while pos < len(lines):
            room = self.max_bytes - self._size
            end = int(np.searchsorted(offsets, offsets[pos] + room, side="right")) - 1
            if end <= pos:
                if self._size:
                    self._open()
                    continue
                end = pos + 1  # a single line longer than the limit: it gets a file of its own
            self._file.write(data[offsets[pos]:offsets[end]])
            written = int(offsets[end] - offsets[pos])
            self._size += written
            self.bytes += written
            pos = end
            if pos < len(lines):
                self._open()

    def close(self):
        self._file.close()


def write_log(rng: np.random.Generator, events: dict, slugs: np.ndarray, bias: np.ndarray,
               params: dict, directory: Path, say: Callable[[str], None]) -> dict:
    """Write all events in time order, in blocks of about block_lines lines.

    Blocks cut the timeline at segment starts; a segment's minutes that run past its block's
    end are carried into the next block, so line times never decrease.
    """
    t0 = np.datetime64(params["start"], "ms").astype(np.int64)
    segments = events["segments"]
    order = np.argsort(segments["ts"], kind="stable")
    segments = _take(segments, order)
    lengths = segments["last"] - segments["first"] + 1
    total_watch = int(lengths.sum())
    cut_at = np.searchsorted(np.cumsum(lengths),
                             np.arange(params["block_lines"], total_watch, params["block_lines"]))
    cut_times = np.unique(segments["ts"][np.minimum(cut_at, len(order) - 1)]) if len(order) else []
    edges = np.concatenate([[np.iinfo(np.int64).min], cut_times, [np.iinfo(np.int64).max]])

    rates = events["rates"]
    recs = events["recommendations"]
    formatter = _LineFormatter(slugs, bias, rng, t0)
    writer = _LogWriter(directory, params["max_file_bytes"])
    counts = {"watch_lines": 0, "rate_lines": 0, "recommendation_lines": 0}
    pending = _expand(_take(segments, slice(0, 0)))
    for lo, hi in zip(edges[:-1], edges[1:]):
        starting = slice(*np.searchsorted(segments["ts"], [lo, hi]))
        watches = _concat(pending, _expand(_take(segments, starting)))
        now = watches["ts"] < hi
        pending = _take(watches, ~now)
        watches = _take(watches, now)
        block_rates = _take(rates, (rates["ts"] >= lo) & (rates["ts"] < hi))
        block_recs = _take(recs, (recs["ts"] >= lo) & (recs["ts"] < hi))
        writer.write(formatter.block(watches, block_rates, block_recs))
        counts["watch_lines"] += len(watches["ts"])
        counts["rate_lines"] += len(block_rates["ts"])
        counts["recommendation_lines"] += len(block_recs["ts"])
        if hi != edges[-1]:
            say(f"{writer.files[-1]}: {counts['watch_lines']:,} of {total_watch:,} watch lines")
    writer.close()
    counts["lines"] = sum(counts.values())
    return {**counts, "files": [f"events/{name}" for name in writer.files],
            "log_bytes": writer.bytes}


class _LineFormatter:
    """Turns event arrays into the exact Kafka line text, with pyarrow string kernels."""

    def __init__(self, slugs: np.ndarray, bias: np.ndarray, rng: np.random.Generator, t0: int):
        self.slugs = pa.array(slugs, pa.string())
        self.rng = rng
        self.t0 = t0
        self.numbers = pa.array([str(i) for i in range(1_000)], pa.string())
        self.millis = pa.array([""] + [f".{i:03d}" for i in range(1_000)], pa.string())
        self.by_popularity = np.argsort(-bias, kind="stable")

    def block(self, watches: dict, rates: dict, recs: dict) -> pa.Array:
        ts = np.concatenate([watches["ts"], rates["ts"], recs["ts"]])
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        users = np.concatenate([watches["user"], rates["user"], recs["user"]])[order] + 1
        millis = np.concatenate([np.zeros(len(watches["ts"]) + len(rates["ts"]), np.int64),
                                 recs["ts"] % 1000 + 1])[order]
        bodies = pa.concat_arrays([self._watch_bodies(watches), self._rate_bodies(rates),
                                   self._recommendation_bodies(recs)]).take(order)
        return pc.binary_join_element_wise(
            self._times(ts), self.millis.take(millis), ",",
            pc.cast(pa.array(users), pa.string()), ",", bodies, "")

    def _times(self, ts: np.ndarray) -> pa.Array:
        """'2023-10-01T12:34:56' per (sorted) ms time, formatting each distinct second once."""
        seconds = (ts + self.t0) // 1000
        new = np.concatenate([[True], seconds[1:] != seconds[:-1]])[:len(ts)]
        distinct = pa.array(seconds[new], pa.timestamp("s"))
        text = pc.strftime(distinct, format="%Y-%m-%dT%H:%M:%S")
        return text.take(pa.array(np.cumsum(new) - 1))

    def _watch_bodies(self, watches: dict) -> pa.Array:
        return pc.binary_join_element_wise(
            "GET /data/m/", self.slugs.take(watches["movie"]), "/",
            self.numbers.take(watches["minute"]), ".mpg\n", "")

    def _rate_bodies(self, rates: dict) -> pa.Array:
        return pc.binary_join_element_wise(
            "GET /rate/", self.slugs.take(rates["movie"]), "=",
            self.numbers.take(rates["rating"]), "\n", "")

    def _recommendation_bodies(self, recs: dict) -> pa.Array:
        """A popular window of the catalogue, with the watched movie in it half of the time."""
        n = len(recs["ts"])
        length = min(RECOMMENDATION_LENGTH, len(self.slugs))
        start = self.rng.integers(0, max(1, min(50, len(self.slugs) - length + 1)), size=n)
        result = self.by_popularity[start[:, None] + np.arange(length)]
        listed = (result == recs["movie"][:, None]).any(axis=1)
        insert = ~listed & (self.rng.random(n) < 0.5)
        position = self.rng.integers(0, length, size=n)
        result[insert, position[insert]] = recs["movie"][insert]
        columns = [self.slugs.take(result[:, i]) for i in range(length)]
        latency = self.numbers.take(self.rng.integers(40, 700, size=n))
        return pc.binary_join_element_wise(
            f"recommendation request {RECOMMENDATION_SERVER}, status 200, result: ",
            pc.binary_join_element_wise(*columns, ", ") if n else pa.array([], pa.string()),
            ", ", latency, " ms\n", "")
