"""Parse the simulator's event log (the Kafka lines) into watches and ratings.

Lines, as in /work/shared/protocol.md::

    2023-10-01T12:34:56,4242,GET /data/m/the+matrix+1999/12.mpg       one per minute watched
    2023-10-01T12:40:01,4242,GET /rate/the+matrix+1999=4               rating 1..5 (f2023), 1..10 (s2026)
    2023-10-01T12:30:00.123,4242,recommendation request <server>, status 200, result: ..., 351 ms
    2026-02-01T09:00,4242,GET /create_account                          s2026 only

Protocols (EVENT_PROTOCOL): f2023, the seed's (ratings 1-5), and s2026 (ratings 1-10, which map to
the same 1-5 weights as (r + 1) // 2, and create_account lines, counted and ignored). A time
without seconds (`2023-09-28T20:36`) is real simulator output (Java's LocalDateTime.toString()),
not an error.

Files are read in blocks of a few MB (:mod:`trainer.loaders.lines`); each block is one pyarrow
array of lines (no copy), checked with one regular expression (RE2's DFA, no submatches); the
fields of the valid lines are then found from their positions with a few vectorized numpy steps.
There is no Python loop over lines except for the few malformed ones kept as examples.

Watches are reduced to (user, movie, max minute); ratings keep the last one in log order.
Recommendation lines are counted and ignored. Blank lines are counted as ``blank``. Anything else
(unknown line, time that is not a real date and time of day, user id that is not a non-negative
integer, minute that is not an integer, rating outside 1..5, bytes that are not UTF-8, a truncated
last line) is counted as malformed, with file and 1-based line number for the first few. Windows
line endings and trailing spaces are accepted. ``check_lines`` is the same check for the ingester.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trainer.loaders.frames import empty_ratings, empty_watches
from trainer.loaders.lines import BLOCK_BYTES, invalid_utf8, note_invalid, read_line_blocks
from trainer.loaders.report import DataFormatError, ParseReport

WATCH = "GET /data/m/"
RATE = "GET /rate/"

# A real date and time of day (month 01-12, day 01-31, hour 00-23, minute and second 00-59).
_TIME = (r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d"
         r"(?::[0-5]\d(?:\.\d+)?)?")
_USER = r"\d{1,18}"
_END = r"[ \t\r]*\n?$"
PROTOCOLS = ("f2023", "s2026")
_RATINGS = {"f2023": "[1-5]", "s2026": "(?:10|[1-9])"}
RATING_SCALE = {"f2023": 5, "s2026": 10}


def line_pattern(protocol: str = "f2023") -> str:
    if protocol not in PROTOCOLS:
        raise ValueError(f"EVENT_PROTOCOL={protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    account = "|GET /create_account" if protocol == "s2026" else ""
    return (rf"^{_TIME},{_USER},(?:GET /data/m/[^/\s,]+/\d{{1,9}}\.mpg|GET /rate/[^\s,]+={_RATINGS[protocol]}"
            rf"|recommendation request [^\n]*{account}){_END}")


LINE_PATTERN = line_pattern("f2023")


def event_reason(text: str, protocol: str = "f2023") -> str:
    """Why a line that failed the protocol's pattern is malformed."""
    body = text.rstrip("\r\n").rstrip(" \t\r")
    if not body.strip():
        return "blank"
    parts = body.split(",", 2)
    if len(parts) < 3:
        return "not a log line (expected <time>,<userid>,<request>)"
    time, user, request = parts
    if not re.fullmatch(_TIME, time):
        return f"bad time {time!r}"
    if not re.fullmatch(_USER, user):
        return f"user id {user!r} is not a non-negative integer"
    if request.startswith(WATCH):
        match = re.fullmatch(r"GET /data/m/([^/\s,]+)/(.*)", request)
        if not match:
            return "bad movie id in watch line"
        minute = match.group(2)
        if minute.endswith(".mpg") and not re.fullmatch(r"\d{1,9}", minute[:-4]):
            return f"minute {minute[:-4]!r} is not an integer"
        return "watch line not of the form /data/m/<movieid>/<minute>.mpg (truncated?)"
    if request.startswith(RATE):
        match = re.fullmatch(r"GET /rate/([^\s,]+)=(.*)", request)
        if not match:
            return "rate line not of the form /rate/<movieid>=<rating>"
        return f"rating {match.group(2)!r} is not in 1..{RATING_SCALE[protocol]}"
    if request.strip() == "GET /create_account":
        return "create_account is not an event of the f2023 protocol"
    return "unknown request"


def _event_files(paths) -> tuple[list[Path], str]:
    """The log files to read, in order, and a name for the report."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(file for file in path.glob("*.log") if not file.is_dir())
            if not found:
                raise DataFormatError(f"{path}: no *.log event files in this directory")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise DataFormatError(f"{path}: no such event log file or directory")
    if len(paths) == 1:
        name = Path(paths[0]).name
    else:
        name = f"{len(files)} event logs"
    return files, name


_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[[ord(" "), ord("\t"), ord("\r"), ord("\n")]] = True


def _slices(data: pa.Buffer, begin: np.ndarray, end: np.ndarray) -> pa.Array:
    """Strings data[begin[i]:end[i]] (ascending, non-overlapping ranges) as a string array.

    The ranges and the gaps between them are laid out as one binary array over the same
    buffer (no copy); taking every other element then copies just the slices.
    """
    if not len(begin):
        return pa.array([], pa.string())
    offsets = np.empty(2 * len(begin), dtype=np.int64)
    offsets[0::2] = begin
    offsets[1::2] = end
    pieces = pa.Array.from_buffers(pa.large_binary(), len(offsets) - 1,
                                   [None, pa.py_buffer(offsets), data])
    return pieces.take(pa.array(np.arange(0, len(offsets), 2))).cast(pa.string())


def _digits(data: np.ndarray, first: np.ndarray, step: int) -> tuple[np.ndarray, np.ndarray]:
    """Read the decimal number whose first digit is at ``first`` (step +1) or whose last digit is
    at ``first`` (step -1). Returns (value, position just past the digits)."""
    value = np.zeros(len(first), dtype=np.int64)
    scale = np.ones(len(first), dtype=np.int64)
    position = first.copy()
    active = np.ones(len(first), dtype=bool)
    while active.any():
        digit = data[position].astype(np.int64) - ord("0")
        active &= (digit >= 0) & (digit <= 9)
        if step > 0:
            value = np.where(active, value * 10 + digit, value)
        else:
            value = np.where(active, value + digit * scale, value)
            scale = np.where(active, scale * 10, scale)
        position = np.where(active, position + step, position)
    return value, position


def _next(data: np.ndarray, position: np.ndarray, byte: int) -> np.ndarray:
    """Position of the first ``byte`` at or after each position (it must be there)."""
    position = position.copy()
    while True:
        other = data[position] != byte
        if not other.any():
            return position
        position[other] += 1


def _last_visible(data: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Position of the last byte of each line that is not a trailing space or line ending."""
    position = ends - 1
    while True:
        trailing = _WHITESPACE[data[position]]
        if not trailing.any():
            return position
        position = np.where(trailing, position - 1, position)


def _parse_lines(lines: pa.Array, utf8_bad: np.ndarray, protocol: str = "f2023",
                 times: bool = False) -> tuple[np.ndarray, dict]:
    """Validate a block of lines; return the valid mask and the fields of the valid lines.

    Once the regular expression has accepted a line, its fields sit at known places, found with
    a few vectorized steps per line instead of a scan of every byte: the user id starts after
    the first comma; a watch line ends in "/<minute>.mpg" and its movie runs from after
    "GET /data/m/" to that '/'; a rate line ends in "=<rating>" and its movie runs from after
    "GET /rate/" to that '='.
    """
    valid = pc.match_substring_regex(lines, line_pattern(protocol)).to_numpy(zero_copy_only=False)
    valid &= ~utf8_bad
    buffer = lines.buffers()[2]
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:
                                                          lines.offset + len(lines) + 1]
    data = np.frombuffer(buffer, np.uint8, count=int(offsets[-1]))
    starts, ends = offsets[:-1][valid], offsets[1:][valid]
    first_comma = _next(data, starts + 16, ord(","))  # the time has at least 16 characters
    users, after_user = _digits(data, first_comma + 1, +1)
    kind = data[after_user + 6]  # the 'd' of "GET /data", the 'r' of "GET /rate", the 'c' of "GET /create_account"
    is_watch, is_rate = kind == ord("d"), kind == ord("r")
    is_account = (kind == ord("c")) & (data[after_user + 1] == ord("G"))

    mpg = _last_visible(data, ends[is_watch])  # the 'g' of ".mpg"
    minutes, slash = _digits(data, mpg - 4, -1)
    rating, equals = _digits(data, _last_visible(data, ends[is_rate]), -1)   # 1..5, or 1..10
    if protocol == "s2026":
        rating = (rating + 1) // 2     # the same weights as 1..5
    columns = {
        "watch_user": users[is_watch],
        "watch_movie": _slices(buffer, after_user[is_watch] + 1 + len(WATCH), slash),
        "watch_minute": minutes.astype(np.int32),
        "rate_user": users[is_rate],
        "rate_movie": _slices(buffer, after_user[is_rate] + 1 + len(RATE), equals),
        "rating": rating.astype(np.int8),
        "accounts": int(is_account.sum()),
        "time_range": pc.min_max(_slices(buffer, starts, first_comma)).as_py() if len(starts) else None,
        "recommendations": int(len(starts) - is_watch.sum() - is_rate.sum() - is_account.sum()),
    }
    if times:   # hour of each event, seconds since the epoch (for the training window)
        hours = pc.strptime(_slices(buffer, starts, starts + 13), format="%Y-%m-%dT%H", unit="s")
        hours = hours.cast(pa.int64()).to_numpy()
        columns["watch_time"], columns["rate_time"] = hours[is_watch], hours[is_rate]
    return valid, columns


def check_lines(lines: pa.Array, protocol: str = "f2023") -> tuple[np.ndarray, list[str | None]]:
    """Which of these lines (without their newline) are valid events of the protocol, and why each
    other one is not: the trainer's own check, for the ingester's quarantine."""
    lines = lines.cast(pa.large_binary())
    utf8_bad = invalid_utf8(lines)
    valid, _ = _parse_lines(lines, utf8_bad, protocol)
    reasons: list[str | None] = [None] * len(lines)
    for i in np.flatnonzero(~valid):
        reasons[i] = "not UTF-8" if utf8_bad[i] else event_reason(lines[i].as_py().decode("utf-8", "replace"), protocol)
    return valid, reasons


def _max_minutes(table: pa.Table) -> pa.Table:
    aggregates = [("max_minute", "max")] + ([("hour", "max")] if "hour" in table.column_names else [])
    reduced = table.group_by(["user_id", "movie_id"]).aggregate(aggregates)
    return reduced.rename_columns(["user_id", "movie_id"] + [name for name, _ in aggregates])


def _within(table: pa.Table, since: int | None) -> pa.Table:
    """Rows whose event hour is at or after `since`, without the hour column."""
    if "hour" not in table.column_names:
        return table
    if since is not None:
        table = table.filter(pc.greater_equal(table["hour"], since))
    return table.drop_columns(["hour"])


def load_events(paths: Path | str | Sequence[Path | str], chunk_lines: int = 2_000_000, *,
                block_bytes: int = BLOCK_BYTES, protocol: str = "f2023",
                window_days: float = 0.0) -> tuple[pd.DataFrame, pd.DataFrame, ParseReport]:
    """Read event logs (files, or directories of *.log read in name order).

    Returns (watches, ratings, report): watches have one row per (user_id, movie_id) with the
    highest minute seen; ratings one row per (user_id, movie_id) with the last rating in log
    order; both sorted by user_id, movie_id. Files are read in blocks of ``block_bytes``; watch
    lines are reduced to (user, movie, max minute) every ``chunk_lines`` lines, which bounds
    memory to about that many lines plus the result. One thread: two were slower here (the
    page faults of both serialize). ``protocol``: f2023 or s2026 (module docstring).
    ``window_days`` > 0: only events within that many days before the newest event count
    (TRAIN_WINDOW_DAYS; to the hour); the report counts the older ones as ``outside_window``.
    """
    line_pattern(protocol)  # an unknown protocol fails here, with its name
    window = window_days > 0
    files, name = _event_files(paths)
    report = ParseReport(source=name, counts={"watch": 0, "rate": 0, "recommendation": 0,
                                              "blank": 0, **({"create_account": 0} if protocol == "s2026" else {})})
    newest = None
    first_time = last_time = None
    reduced: list[pa.Table] = []   # (user, movie, max minute) per chunk
    pending: list[pa.Table] = []   # watch rows not reduced yet
    pending_lines = 0
    rates: list[pa.Table] = []
    blocks = ((path, first_line, lines) for path in files
              for first_line, lines in read_line_blocks(path, block_bytes))
    for path, first_line, lines in blocks:
        utf8_bad = invalid_utf8(lines)
        valid, columns = _parse_lines(lines, utf8_bad, protocol, times=window)
        report.lines += len(lines)
        note_invalid(report, path, first_line, lines, valid, lambda text: event_reason(text, protocol), utf8_bad)
        report.add("watch", len(columns["watch_user"]))
        report.add("rate", len(columns["rate_user"]))
        report.add("recommendation", columns["recommendations"])
        if columns["time_range"]:
            low, high = columns["time_range"]["min"], columns["time_range"]["max"]
            first_time = low if first_time is None else min(first_time, low)
            last_time = high if last_time is None else max(last_time, high)
        if columns["accounts"]:
            report.add("create_account", columns["accounts"])
        watch = {"user_id": columns["watch_user"], "movie_id": columns["watch_movie"],
                 "max_minute": columns["watch_minute"]}
        rate = {"user_id": columns["rate_user"], "movie_id": columns["rate_movie"], "rating": columns["rating"]}
        if window:
            watch["hour"], rate["hour"] = columns["watch_time"], columns["rate_time"]
            block_newest = max([int(t.max()) for t in (columns["watch_time"], columns["rate_time"]) if len(t)], default=None)
            if block_newest is not None:
                newest = block_newest if newest is None else max(newest, block_newest)
        pending.append(pa.table(watch))
        rates.append(pa.table(rate))
        pending_lines += len(lines)
        if pending_lines >= chunk_lines:
            reduced.append(_max_minutes(pa.concat_tables(pending)))
            pending, pending_lines = [], 0

    report.window = (first_time, last_time)
    since = newest - int(window_days * 86_400) if window and newest is not None else None
    watches = _max_minutes(pa.concat_tables(reduced + pending)) if reduced or pending else None
    if watches is not None and window:
        kept = _within(watches, since)
        report.add("outside_window", watches.num_rows - kept.num_rows)
        watches = kept
    if watches is None or not watches.num_rows:
        watches = empty_watches()
    else:
        watches = watches.sort_by([("user_id", "ascending"), ("movie_id", "ascending")]).to_pandas()
    ratings = _within(pa.concat_tables(rates), since).to_pandas() if rates else empty_ratings()
    ratings = (ratings.drop_duplicates(["user_id", "movie_id"], keep="last")
               .sort_values(["user_id", "movie_id"], kind="stable").reset_index(drop=True))
    return watches, ratings, report
