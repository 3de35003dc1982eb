"""The simulator writes the course's lines, and every corruption it injects is one our parser
refuses (so the quarantine can be checked against the simulator's own count)."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from simulator import lines
from trainer.loaders.eventlog import check_lines

T = 1_698_710_400.0   # 2023-10-31T00:00:00


def valid(line: str, protocol: str = "f2023") -> bool:
    return bool(check_lines(pa.array([line.encode()], pa.binary()), protocol)[0][0])


def test_times_drop_zero_seconds_like_java_and_recommendations_carry_milliseconds():
    assert lines.java_time(T) == "2023-10-31T00:00"
    assert lines.java_time(T + 5.7) == "2023-10-31T00:00:05"
    assert lines.recommendation(T + 1.25, 7, 200, "a+1999,b+2000", 35) == \
        "2023-10-31T00:00:01.250,7,recommendation request recsys.local:8082, status 200, result: a+1999, b+2000, 35 ms"


@pytest.mark.parametrize("protocol", ["f2023", "s2026"])
def test_every_line_the_simulator_writes_is_valid(protocol):
    written = [lines.watch(T, 1, "toy+story+1995", 3), lines.rate(T + 60, 1, "toy+story+1995", 5),
               lines.recommendation(T, 1, 200, "a+1,b+2", 12),
               lines.recommendation(T, 1, 0, "java.net.SocketTimeoutException: Read timed out", 800)]
    if protocol == "s2026":
        written += [lines.create_account(T, 9), lines.rate(T, 9, "x+2001", 10)]
    assert all(valid(line, protocol) for line in written), written


@pytest.mark.parametrize("kind", sorted(lines.CORRUPTIONS))
def test_every_corruption_is_refused_by_the_parser(kind):
    rng = random.Random(kind)
    applies, corrupt = lines.CORRUPTIONS[kind]
    for _ in range(200):
        for what in applies:
            line = lines.watch(T + rng.random() * 1e5, rng.randrange(1, 10**6), "the+lord+of+the+rings+2001",
                               rng.randrange(1, 200)) if what == "watch" else \
                lines.rate(T + rng.random() * 1e5, rng.randrange(1, 10**6), "toy+story+1995", rng.randrange(1, 6))
            bad = corrupt(line, rng)
            assert bad != line and not valid(bad, "f2023") and not valid(bad, "s2026"), (kind, bad)
