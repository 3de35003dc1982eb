"""The served-answer record: what a replica sends for every answer it gives (inference/records.py),
and what the online evaluator and `trainer provenance` read back.

One Kafka message carries a batch of records: newline-separated JSON objects, one per answer, with
the fields of `FIELDS` (time in seconds since the epoch, wall clock of the replica; the list as
served, best first). Batching keeps the cost per answer to appending a tuple to a queue.
"""

from __future__ import annotations

import json
from typing import Iterable, NamedTuple

FIELDS = ("time", "request_id", "user_id", "version", "resolved", "movies", "replica")


class Served(NamedTuple):
    time: float
    request_id: str
    user_id: int
    version: str
    resolved: str      # known | table | api | popularity (inference/routes.py)
    movies: list       # movie ids as served
    replica: str


def encode(records: Iterable[Served]) -> bytes:
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    return "\n".join(dumps(dict(zip(FIELDS, r))) for r in records).encode()


def decode(value: bytes | None) -> tuple[list[dict], int]:
    """The records of one message, and how many of its lines were not a valid record."""
    records, bad = [], 0
    if not value:
        return records, bad
    for line in value.split(b"\n"):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            bad += 1
            continue
        if not valid(record):
            bad += 1
            continue
        records.append(record)
    return records, bad


def valid(record) -> bool:
    return (isinstance(record, dict) and isinstance(record.get("user_id"), int) and isinstance(record.get("version"), str)
            and isinstance(record.get("movies"), list) and isinstance(record.get("time"), (int, float)))
