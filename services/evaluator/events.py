"""The stream's lines as events for the online evaluation. Whether a line is valid is the trainer's
parser's decision (trainer/loaders/eventlog.py, as for the ingester: one parser); this only takes a
valid line apart."""

from __future__ import annotations

import datetime as dt
import re
from typing import NamedTuple

import pyarrow as pa

from trainer.loaders.eventlog import check_lines

EPOCH = dt.datetime(1970, 1, 1)
_RESULT = re.compile(r"status (\d+), result: (.*), (\d+) ms\s*$")


class Event(NamedTuple):
    kind: str                 # watch | rate | recommendation | account
    time: float               # event time, seconds since the epoch
    user: int
    movie: str | None = None  # watch, rate
    value: int = 0            # watch: the minute; rate: the rating; recommendation: the status
    movies: tuple = ()        # recommendation: the listed ids, best first (status 200 only)


def seconds(text: str) -> float:
    return (dt.datetime.fromisoformat(text) - EPOCH).total_seconds()


def parse_valid(line: bytes) -> Event | None:
    """The event of a line the parser accepted (None for a recommendation line we cannot read)."""
    time, user, request = line.decode().split(",", 2)
    t, u = seconds(time), int(user)
    request = request.rstrip()
    if request.startswith("GET /data/m/"):
        movie, minute = request[len("GET /data/m/"):].rsplit("/", 1)
        return Event("watch", t, u, movie, int(minute[:-4]))
    if request.startswith("GET /rate/"):
        movie, stars = request[len("GET /rate/"):].rsplit("=", 1)
        return Event("rate", t, u, movie, int(stars))
    if request.startswith("recommendation request"):
        match = _RESULT.search(request)
        if not match:
            return None
        status = int(match.group(1))
        movies = tuple(m.strip() for m in match.group(2).split(",")) if status == 200 else ()
        return Event("recommendation", t, u, None, status, movies)
    return Event("account", t, u)


def parse(lines: list[bytes], protocol: str) -> list[Event | None]:
    """The event of each line, in order; None for a malformed line (the ingester quarantines it)."""
    stripped = [line.rstrip(b"\r\n") for line in lines]
    valid, _ = check_lines(pa.array(stripped, pa.binary()), protocol)
    return [parse_valid(line) if ok else None for line, ok in zip(stripped, valid)]
