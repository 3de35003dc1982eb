"""The event-log parser on hand-written logs: exact counts, line numbers and edge cases."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trainer.loaders.eventlog import load_events
from trainer.loaders.report import MAX_EXAMPLES, DataFormatError

T = "2023-10-01T00:00:00"
REC = (f"{T}.123,9,recommendation request 17645-team07.lti.cs.cmu.edu:8082, status 200, "
       "result: a+1999, b+2000, 351 ms")

# (line, what the parser must make of it)
FIRST_FILE = [
    (f"{T},1,GET /data/m/the+matrix+1999/1.mpg", "watch"),
    (f"{T},1,GET /data/m/the+matrix+1999/2.mpg", "watch"),
    ("", "blank"),
    (f"{T},abc,GET /data/m/the+matrix+1999/3.mpg", "user id 'abc'"),
    (f"{T},-5,GET /rate/the+matrix+1999=4", "user id '-5'"),
    (f"{T},1.5,GET /rate/the+matrix+1999=4", "user id '1.5'"),
    (f"{T},2,GET /rate/the+matrix+1999=6", "rating '6'"),
    (f"{T},2,GET /rate/the+matrix+1999=0", "rating '0'"),
    (f"{T},2,GET /rate/the+matrix+1999=4   ", "rate"),
    (f"{T},2,GET /data/m/monsters_+inc.+2001/x.mpg", "minute 'x'"),
    (f"{T},2,GET /data/m/monsters_+inc.+2001/7.mpg", "watch"),
    (REC, "recommendation"),
    ("   \t", "blank"),
    ("hello world", "not a log line"),
    (f"{T},3,GET /search?q=matrix", "unknown request"),
    (f"yesterday,3,GET /data/m/the+matrix+1999/1.mpg", "bad time"),
]
SECOND_FILE = (
    f"{T},3,GET /data/m/am\u00e9lie+2001/7.mpg\r\n".encode()       # valid UTF-8, Windows ending
    + f"{T},3,GET /data/m/bad".encode() + b"\xff" + b"+2001/7.mpg\n"  # not UTF-8
    + f"{T},2,GET /rate/the+matrix+1999=2\r\n".encode()              # changes user 2's rating
    + f"{T},1,GET /data/m/the+matrix+1999/12.mpg \r\n".encode()
    + f"{T},4,GET /data/m/x+2000/1".encode()                         # truncated last line
)


@pytest.fixture
def log_dir(tmp_path):
    (tmp_path / "events-0001.log").write_text("\n".join(line for line, _ in FIRST_FILE) + "\n")
    (tmp_path / "events-0002.log").write_bytes(SECOND_FILE)
    (tmp_path / "notes.txt").write_text("not a log\n")
    return tmp_path


def rows(frame):
    return sorted(map(tuple, frame.itertuples(index=False)))


def test_hand_written_log_counts_lines_numbers_and_reasons(log_dir):
    watches, ratings, report = load_events(log_dir)
    assert rows(watches) == [(1, "the+matrix+1999", 12), (2, "monsters_+inc.+2001", 7),
                             (3, "am\u00e9lie+2001", 7)]
    assert rows(ratings) == [(2, "the+matrix+1999", 2)]
    assert report.lines == len(FIRST_FILE) + 5
    assert report.counts == {"watch": 5, "rate": 2, "recommendation": 1, "blank": 2}
    expected_first = [(str(log_dir / "events-0001.log"), number, what)
                      for number, (_, what) in enumerate(FIRST_FILE, start=1)
                      if what not in ("watch", "rate", "recommendation", "blank")]
    second = str(log_dir / "events-0002.log")
    expected = expected_first + [(second, 2, "not UTF-8"), (second, 5, "truncated")]
    assert report.skipped == len(expected) == 11
    assert [(path, line) for path, line, _ in report.examples] == \
        [(path, line) for path, line, _ in expected]
    for (_, _, reason), (_, _, what) in zip(report.examples, expected):
        assert what in reason
    assert report.summary().startswith(
        f"{log_dir.name}: 21 lines, 11 malformed skipped")
    assert "(first: events-0001.log:4: user id 'abc'" in report.summary()


def test_dtypes_and_columns(log_dir):
    watches, ratings, _ = load_events(log_dir)
    assert dict(watches.dtypes.astype(str)) == {"user_id": "int64", "movie_id": "str",
                                                "max_minute": "int32"}
    assert dict(ratings.dtypes.astype(str)) == {"user_id": "int64", "movie_id": "str",
                                                "rating": "int8"}


@pytest.mark.parametrize("block_bytes", [1, 7, 64, 1000])
def test_block_boundaries_do_not_change_the_result(log_dir, block_bytes):
    expected = load_events(log_dir)
    got = load_events(log_dir, chunk_lines=3, block_bytes=block_bytes)
    assert rows(got[0]) == rows(expected[0]) and rows(got[1]) == rows(expected[1])
    assert got[2] == expected[2]


def test_files_are_read_in_the_order_given_and_directories_by_name(log_dir):
    first, second = log_dir / "events-0001.log", log_dir / "events-0002.log"
    _, ratings, _ = load_events([second, first])
    assert rows(ratings) == [(2, "the+matrix+1999", 4)]  # now the first file's rating is last
    _, ratings, report = load_events(str(first))
    assert rows(ratings) == [(2, "the+matrix+1999", 4)] and report.source == "events-0001.log"


def test_missing_inputs_name_the_path(tmp_path):
    with pytest.raises(DataFormatError, match="no such event log"):
        load_events(tmp_path / "nope.log")
    with pytest.raises(DataFormatError, match=re.escape(str(tmp_path))):
        load_events(tmp_path)


def test_empty_log(tmp_path):
    (tmp_path / "events-0001.log").write_bytes(b"")
    watches, ratings, report = load_events(tmp_path)
    assert watches.empty and ratings.empty and report.lines == 0
    assert list(watches.columns) == ["user_id", "movie_id", "max_minute"]


def test_only_the_first_examples_are_kept_but_every_bad_line_is_counted(tmp_path):
    path = tmp_path / "events-0001.log"
    path.write_text("".join(f"garbage {i}\n" for i in range(50)) + f"{T},1,GET /rate/m+1999=5\n")
    _, ratings, report = load_events(path, block_bytes=100)
    assert report.skipped == 50 and len(report.examples) == MAX_EXAMPLES
    assert [line for _, line, _ in report.examples] == list(range(1, MAX_EXAMPLES + 1))
    assert len(ratings) == 1


WATCH = st.tuples(st.just("watch"), st.integers(0, 30), st.sampled_from(["a+1999", "b+2000"]),
                  st.integers(0, 300))
RATE = st.tuples(st.just("rate"), st.integers(0, 30), st.sampled_from(["a+1999", "b+2000"]),
                 st.integers(-1, 7))
JUNK = st.tuples(st.just("junk"), st.text(alphabet="ab,/=. 1\t", max_size=20), st.none(),
                 st.none())


@settings(max_examples=40, deadline=None)
@given(events=st.lists(st.one_of(WATCH, RATE, JUNK), max_size=40),
       block_bytes=st.sampled_from([16, 4 << 20]), crlf=st.booleans())
def test_agrees_with_a_line_by_line_reading(tmp_path_factory, events, block_bytes, crlf):
    lines, watched, rated, malformed = [], {}, {}, 0
    for kind, user, movie, value in events:
        if kind == "watch":
            lines.append(f"{T},{user},GET /data/m/{movie}/{value}.mpg")
            watched[(user, movie)] = max(watched.get((user, movie), 0), value)
        elif kind == "rate":
            lines.append(f"{T},{user},GET /rate/{movie}={value}")
            if 1 <= value <= 5:
                rated[(user, movie)] = value
            else:
                malformed += 1
        else:
            lines.append(user)
            malformed += bool(user.strip())
    path = tmp_path_factory.mktemp("log") / "events-0001.log"
    path.write_text(("\r\n" if crlf else "\n").join(lines))
    watches, ratings, report = load_events(path, block_bytes=block_bytes)
    assert dict(zip(zip(watches["user_id"], watches["movie_id"]), watches["max_minute"])) == watched
    assert dict(zip(zip(ratings["user_id"], ratings["movie_id"]), ratings["rating"])) == rated
    assert report.skipped == malformed
    assert report.lines == len(lines) - (lines[-1:] == [""])
