"""Valid or malformed, with the trainer's own parser (one parser: trainer/loaders/eventlog.py)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from trainer.loaders.eventlog import check_lines

EPOCH = dt.datetime(1970, 1, 1)


def event_seconds(line: bytes) -> int | None:
    """Seconds since the epoch of a valid line's time (`2023-09-28T20:36` has no seconds: fine)."""
    try:
        return int((dt.datetime.fromisoformat(line.split(b",", 1)[0].decode()) - EPOCH).total_seconds())
    except ValueError:
        return None


def classify(lines: list[bytes], protocol: str) -> tuple[list[bytes], list[tuple[str, bytes]], int | None]:
    """(valid lines, [(reason, malformed line)], newest event time of the valid lines)."""
    stripped = [line.rstrip(b"\r\n") for line in lines]
    valid, reasons = check_lines(pa.array(stripped, pa.binary()), protocol)
    good = [line for line, ok in zip(stripped, valid) if ok]
    bad = [(reason, line.replace(b"\n", b" ")) for line, ok, reason in zip(stripped, valid, reasons) if not ok]
    newest = max((line.split(b",", 1)[0] for line in good), default=None)
    return good, bad, event_seconds(newest + b",") if newest else None
