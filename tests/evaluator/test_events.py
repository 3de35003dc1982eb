"""Stream lines as events: validity from the trainer's one parser, then taken apart."""

from __future__ import annotations

from evaluator.events import Event, parse


def test_each_kind_of_line_and_a_malformed_one():
    lines = [b"2023-10-01T12:34:56,4242,GET /data/m/the+matrix+1999/12.mpg\r\n",
             b"2023-10-01T12:34,42,GET /rate/x+1999=4",
             b"2023-10-01T12:30:00.123,4242,recommendation request h:8082, status 200, result: a+1, b+2, c+3, 351 ms",
             b"2023-10-01T12:30:00.123,4242,recommendation request h:8082, status 0, result: java.net.SocketTimeoutException: Read timed out, 800 ms",
             b"2023-10-01T2s0:37:09,4242,GET /rate/x+1999=4"]
    watch, rating, answer, failed, bad = parse(lines, "f2023")
    assert watch == Event("watch", 1696163696.0, 4242, "the+matrix+1999", 12)
    assert rating.kind == "rate" and rating.value == 4 and rating.time == 1696163640.0
    assert answer.movies == ("a+1", "b+2", "c+3") and answer.value == 200 and answer.time == 1696163400.123
    assert failed.value == 0 and failed.movies == ()
    assert bad is None


def test_the_2026_protocol_has_ratings_to_ten_and_accounts():
    rating, account = parse([b"2026-02-01T09:00:01,7,GET /rate/x+1999=10", b"2026-02-01T09:00,7,GET /create_account"], "s2026")
    assert rating.value == 10 and account.kind == "account"
    assert parse([b"2026-02-01T09:00:01,7,GET /rate/x+1999=10"], "f2023") == [None]
