"""Both protocol versions and the real course's line forms (../shared/protocol.md) through the one
parser: the trainer's loader and the ingester's check (check_lines)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from trainer.loaders.eventlog import check_lines, load_events

# Lines as the real course stream has them (a 2023 dump), the valid ones first.
VALID_F2023 = [
    "2023-09-28T20:36:05,4242,GET /data/m/the+lord+of+the+rings+the+two+towers+2002/1.mpg",
    "2023-09-28T20:36,4242,GET /data/m/the+lord+of+the+rings+the+two+towers+2002/2.mpg",   # no seconds: real
    "2023-09-28T20:40:01,4242,GET /rate/monsters_+inc.+2001=4",
    "2023-09-28T20:30:00.123,4242,recommendation request 17645-team01.isri.cmu.edu:8082, status 200, "
    "result: the+lord+of+the+rings+the+two+towers+2002, monsters_+inc.+2001, 351 ms",
    "2023-09-28T20:30:00.123456,7,recommendation request x:8082, status 0, result: java.net.SocketTimeoutException: Read timed out, 800 ms",
]
INJECTED = [   # the course staff's corruptions seen in the real dump
    ("2023-09-28T2s0:37:09,4242,GET /data/m/toy+story+1995/3.mpg", "bad time"),
    ("202 3-09-28T21:29:36,4242,GET /data/m/toy+story+1995/3.mpg", "bad time"),
    ("2023-09 -28T21:01:47,4242,GET /data/m/toy+story+1995/3.mpg", "bad time"),
    ("2023-09-28T20:52:A08,4242,GET /data/m/toy+story+1995/3.mpg", "bad time"),
    ("2023-09-28T20:52:08,e200330,GET /data/m/toy+story+1995/3.mpg", "user id"),
    ("2023-09-28T20:52:08,21189l8,GET /rate/toy+story+1995=4", "user id"),
    ("2023-09-28T20:52:08,4242,GET /rate/toy+story+1995=E", "rating"),
    ("2023-09-28T20:52:08,4242,GET /rate/toy+story+ 2+1999=4", "rate line"),
    ("2023-09-28T20:52:08,4242,GET /rate/ a+bugs+life+1998=3", "rate line"),
    ("2023-09-28T20:52:08,4242, GET /data/m/toy+story+1995/3.mpg", "unknown request"),
]


def check(lines: list[str], protocol: str):
    return check_lines(pa.array([line.encode() for line in lines], pa.binary()), protocol)


@pytest.mark.parametrize("protocol", ["f2023", "s2026"])
def test_real_course_lines_are_valid_and_the_injected_ones_are_not(protocol):
    valid, reasons = check(VALID_F2023 + [line for line, _ in INJECTED], protocol)
    assert valid.tolist() == [True] * len(VALID_F2023) + [False] * len(INJECTED)
    for (line, expected), reason in zip(INJECTED, reasons[len(VALID_F2023):]):
        assert reason.startswith(expected), (line, reason)


def test_s2026_has_ratings_to_10_and_create_account_lines_which_f2023_refuses():
    lines = ["2026-02-01T09:00,77,GET /create_account", "2026-02-01T09:01:00,77,GET /rate/toy+story+1995=10",
             "2026-02-01T09:02:00,77,GET /rate/toy+story+1995=7", "2026-02-01T09:02:00,77,GET /rate/x+1=11"]
    assert check(lines, "s2026")[0].tolist() == [True, True, True, False]
    valid, reasons = check(lines, "f2023")
    assert valid.tolist() == [False, False, False, False]
    assert reasons[0].startswith("create_account") and reasons[1] == "rating '10' is not in 1..5"


def test_both_scales_map_to_the_same_weights(tmp_path):
    (tmp_path / "f.log").write_text("2023-10-01T10:00:00,1,GET /rate/a+1999=4\n2023-10-01T10:00:00,2,GET /rate/a+1999=1\n")
    (tmp_path / "s.log").write_text("2026-02-01T10:00:00,1,GET /rate/a+1999=8\n2026-02-01T10:00:00,2,GET /rate/a+1999=2\n"
                                    "2026-02-01T09:00,3,GET /create_account\n")
    _, f2023, _ = load_events(tmp_path / "f.log")
    _, s2026, report = load_events(tmp_path / "s.log", protocol="s2026")
    assert f2023["rating"].tolist() == s2026["rating"].tolist() == [4, 1]
    assert report.counts["create_account"] == 1 and report.skipped == 0


def test_the_training_window_keeps_the_last_days_before_the_newest_event(tmp_path):
    (tmp_path / "e.log").write_text(
        "2023-10-01T10:00:00,1,GET /data/m/old+1999/1.mpg\n"
        "2023-10-01T10:00:00,1,GET /rate/old+1999=5\n"
        "2023-10-09T10:00,2,GET /data/m/new+2001/3.mpg\n"
        "2023-10-10T11:59:59,3,GET /rate/new+2001=4\n")
    watches, ratings, report = load_events(tmp_path / "e.log", window_days=2)
    assert watches["movie_id"].tolist() == ["new+2001"] and ratings["user_id"].tolist() == [3]
    assert report.counts["outside_window"] == 1
    everything, _, _ = load_events(tmp_path / "e.log")
    assert sorted(everything["movie_id"]) == ["new+2001", "old+1999"]
