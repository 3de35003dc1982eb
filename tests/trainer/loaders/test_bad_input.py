"""Malformed input into the loaders: a clear error or a counted skip, never a crash (issue #6 §2).

The event log, users.csv/movies.csv and MovieLens, and the malformed-share limit
(:func:`trainer.loaders.report.check_malformed`). Through the pipeline and the `trainer` CLI:
tests/trainer/test_bad_input.py. Cases the loaders' own tests already cover (test_eventlog,
test_tables, test_movielens) are not repeated.
"""

from __future__ import annotations

import pytest

from tests.trainer.inputs import T, good_events, item_line, movielens_dir, write
from trainer.loaders.eventlog import load_events
from trainer.loaders.movielens import load_movielens
from trainer.loaders.report import DataFormatError, ParseReport, check_malformed
from trainer.loaders.tables import load_movies, load_users, normalize_genres


# --- the event log -------------------------------------------------------------------------------

@pytest.mark.parametrize("line, reason", [
    (f"2023-13-01T12:34:56,1,GET /rate/a+1999=4", "bad time"),          # month 13
    (f"2023-10-00T12:34:56,1,GET /rate/a+1999=4", "bad time"),          # day 0
    (f"2023-10-01T24:00:00,1,GET /rate/a+1999=4", "bad time"),          # hour 24
    (f"2023-10-01T12:60:00,1,GET /rate/a+1999=4", "bad time"),          # minute 60
    (f"1696163696,1,GET /rate/a+1999=4", "bad time"),                   # epoch seconds
    (f"\ufeff{T},1,GET /rate/a+1999=4", "bad time"),                    # a byte-order mark
    (f" {T},1,GET /rate/a+1999=4", "bad time"),
    (f"{T},-1,GET /rate/a+1999=4", "user id '-1'"),
    (f"{T},1e3,GET /rate/a+1999=4", "user id '1e3'"),
    (f"{T},{'9' * 19},GET /rate/a+1999=4", "user id '9999"),             # more than int64 holds
    (f"{T},,GET /rate/a+1999=4", "user id ''"),
    (f"{T},1,GET /rate/a+1999=10", "rating '10'"),
    (f"{T},1,GET /rate/a+1999=-1", "rating '-1'"),
    (f"{T},1,GET /rate/a+1999=4.5", "rating '4.5'"),
    (f"{T},1,GET /rate/a+1999=", "rating ''"),
    (f"{T},1,GET /rate/=4", "rate line not of the form"),
    (f"{T},1,GET /data/m/a+1999/-3.mpg", "minute '-3'"),
    (f"{T},1,GET /data/m/a+1999/1234567890.mpg", "minute '1234567890'"),  # more than 9 digits
    (f"{T},1,GET /data/m/a+1999/", "truncated"),
    (f"{T},1", "not a log line"),
    (f"{T},1,GET /data/m/a+1999/1.mpg\x00", "not of the form"),             # NUL byte
    ("\x00\x00\x00", "not a log line"),
])
def test_malformed_event_lines_are_counted_with_file_line_and_reason(tmp_path, line, reason):
    good = good_events(5)
    path = write(tmp_path / "events.log", "\n".join(good[:3] + [line] + good[3:]) + "\n")
    watches, ratings, report = load_events(path)
    assert report.skipped == 1 and report.lines == 6
    assert report.examples[0][:2] == (str(path), 4) and reason in report.examples[0][2]
    assert report.first["malformed"] == report.examples[0]
    assert len(ratings) == 5  # the good lines around it are all read


def test_binary_garbage_and_invalid_utf8_are_counted_never_decoded(tmp_path):
    garbage = bytes(range(256)) * 40 + b"\n\xc3\x28\xa0\xa1\n\xff\xfe\x00\n"
    path = write(tmp_path / "events.log", garbage + ("\n".join(good_events(3)) + "\n").encode())
    watches, ratings, report = load_events(path)
    assert len(ratings) == 3 and watches.empty
    assert report.skipped == report.lines - 3 - report.counts["blank"] > 0
    assert all("not UTF-8" in reason or "not a log line" in reason for *_, reason in report.examples)
    assert all(line <= report.lines - 3 for _, line, _ in report.examples)


def test_a_line_longer_than_a_read_block_is_one_malformed_line(tmp_path):
    huge = f"{T},1,GET /data/m/" + "x" * (5 << 20)  # 5 MB, more than the 4 MB blocks: no /<minute>.mpg
    good = good_events(3)
    path = write(tmp_path / "events.log", "\n".join(good[:2] + [huge] + good[2:]) + "\n")
    _, ratings, report = load_events(path)
    assert report.skipped == 1 and report.examples[0][1] == 3
    assert len(report.examples[0][2]) < 300  # the excerpt, not 5 MB
    assert len(ratings) == 3


def test_old_mac_line_endings_make_one_malformed_line(tmp_path):
    path = write(tmp_path / "events.log", "\r".join(good_events(4)) + "\r")
    _, ratings, report = load_events(path)
    assert (report.lines, report.skipped, len(ratings)) == (1, 1, 0)


def test_directories_named_like_logs_are_not_read(tmp_path):
    (tmp_path / "events-0000.log").mkdir()
    write(tmp_path / "events-0001.log", "\n".join(good_events(3)) + "\n")
    _, ratings, report = load_events(tmp_path)
    assert len(ratings) == 3 and report.skipped == 0


# --- users.csv and movies.csv -------------------------------------------------------------------

@pytest.mark.parametrize("content, message", [
    (b"", "empty file"),
    (b"\n\n  \n", "empty file"),
    ("user_id,age\n1,20\n".encode("utf-16"), "UTF-16 text"),
    (b"id;age;gender\n1;20;M\n", "missing column 'user_id' (header: 'id;age;gender')"),
    (b"user_id;age;occupation;gender\n1;20;x;M\n", "missing column 'user_id'"),
    (bytes(range(1, 256)) * 4, "missing column 'user_id'"),
], ids=["empty", "blank", "utf-16", "other-separator", "semicolons", "binary"])
def test_unusable_users_file_is_one_line_error_naming_the_file(tmp_path, content, message):
    path = write(tmp_path / "users.csv", content)
    with pytest.raises(DataFormatError) as caught:
        load_users(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


@pytest.mark.parametrize("content", [
    "\ufeffuser_id,age,occupation,gender\n1,24,programmer,M\n2,31,writer,F\n",     # byte-order mark
    "user_id,age,occupation,gender\r1,24,programmer,M\r2,31,writer,F\r",            # old Mac endings
    "user_id,age,occupation,gender\r\n1,24,programmer,M\r\n2,31,writer,F",          # Windows, no last newline
    '"user_id","age","occupation","gender"\n"1","24","programmer","M"\n2,31,writer,F\n',
    "user_id,age,occupation,gender,zip,extra\n1,24,programmer,M,15213,\n2,31,writer,F,,x\n",
], ids=["bom", "cr", "crlf-no-last-newline", "quoted", "extra-columns"])
def test_users_file_variants_that_are_fine(tmp_path, content):
    users, report = load_users(write(tmp_path / "users.csv", content))
    assert users["user_id"].tolist() == [1, 2] and users["gender"].tolist() == ["M", "F"]
    assert users["age"].tolist() == [24, 31] and report.skipped == 0


def test_users_header_without_rows_or_newline_is_an_empty_table(tmp_path):
    for content in ("user_id,age,occupation,gender", "user_id,age,occupation,gender\n"):
        users, report = load_users(write(tmp_path / "users.csv", content))
        assert users.empty and report.lines == 0


def test_users_quoted_commas_huge_fields_and_bad_values(tmp_path):
    path = write(tmp_path / "users.csv", (
        "user_id,age,occupation,gender\n"
        '1,24,"writer, poet",M\n'              # a quoted comma stays in the value
        f"2,31,{'x' * (3 << 20)},F\n"          # a 3 MB field: more than one CSV block
        "3,1e400,x,M\n"                        # age overflows to inf: unknown
        "4,nan,x,F\n"
        "5,200,x,female\n"
        "1.0,20,x,M\n"                         # user id not an integer: skipped
        "-7,20,x,M\n"
        f"{'9' * 19},20,x,M\n"                 # more digits than an int64 holds
        "2,99,dup,F\n"                         # duplicate id: the first row wins
        "6,20,x\n"                             # a field missing
        "7,20,x,M,extra\n"                     # a field too many
    ))
    users, report = load_users(path)
    assert users["user_id"].tolist() == [1, 2, 3, 4, 5]
    assert users["occupation"][0] == "writer, poet" and len(users["occupation"][1]) == 3 << 20
    assert users["age"].isna().tolist() == [False, False, True, True, True]
    assert users["gender"].tolist() == ["M", "F", "M", "F", "F"]
    assert report.skipped == 6 and report.counts["bad_age"] == 3
    assert report.first["malformed"][1:] == (7, "user_id '1.0' is not a non-negative integer")
    assert report.first["bad_age"][:2] == (str(path), 4)


def test_movies_genres_that_are_not_names_do_not_crash(tmp_path):
    path = write(tmp_path / "movies.csv", (
        "movie_id,title,year,genres\n"
        'a+1999,A,1999,"[{""name"": 1}, 5, null, true]"\n'
        'b+1999,B,1999,"[{""id"": 28}, [""x""], {""name"": null}]"\n'
        'c+1999,C,1999,"[{""name"": ""Drama""}, ""Crime""]"\n'
        'd+1999,"Title, with a comma",1999,"[unclosed"\n'
    ))
    movies, report = load_movies(path)
    assert movies["genres"].tolist() == ["1|5", "", "Drama|Crime", "unclosed"]
    assert movies["title"][3] == "Title, with a comma" and report.skipped == 0
    assert normalize_genres("[null]") == ""


# --- MovieLens -----------------------------------------------------------------------------------

@pytest.mark.parametrize("data, first_reason", [
    ("1 10 4 881250949\n2 11 3 881250950\n", "1 tab-separated fields instead of 4"),
    ("1,10,4,881250949\n2,11,3,881250950\n", "1 tab-separated fields instead of 4"),
    ("1::10::4::881250949\n2::11::3::881250950\n", "1 tab-separated fields instead of 4"),   # ML-1M
    ("1\t10\t4.5\t881250949\n", "rating '4.5' is not in 1..5"),
    (f"{'9' * 19}\t10\t4\t881250949\n", "user or item id is not a non-negative integer"),
    ("-1\t10\t4\t881250949\n", "user or item id is not a non-negative integer"),
    ("1\t10\t4\t88125O949\n", "timestamp '88125O949' is not an integer"),
])
def test_movielens_bad_u_data_lines(tmp_path, data, first_reason):
    raw = load_movielens(movielens_dir(tmp_path, data))
    report = raw.reports[0]
    assert report.skipped == report.lines and raw.ratings.empty
    assert report.first["malformed"] == (str(tmp_path / "u.data"), 1, report.examples[0][2])
    assert first_reason in report.examples[0][2]


def test_movielens_truncated_u_data(tmp_path):
    raw = load_movielens(movielens_dir(tmp_path, "1\t10\t4\t881250949\n2\t11\t3\t881250950\n3\t1"))
    report = raw.reports[0]
    assert len(raw.ratings) == 2 and report.skipped == 1
    assert report.examples[0][1:] == (3, "2 tab-separated fields instead of 4: '3\\t1'")


def test_movielens_latin1_titles_and_unknown_ids(tmp_path):
    item = "\n".join([item_line(10, "Am\u00e9lie (2001)"), item_line(11, "Cin\u00e9ma Paradiso")])
    raw = load_movielens(movielens_dir(
        tmp_path, "1\t10\t5\t1\n2\t11\t4\t1\n3\t12\t5\t1\n",   # user 3 and item 12 are listed nowhere
        user="1|24|M|technician|85711\n2|53|F|other|94043\n", item=item.encode("latin-1") + b"\n"))
    assert raw.movies["title"].tolist() == ["Am\u00e9lie (2001)", "Cin\u00e9ma Paradiso"]
    assert len(raw.ratings) == 3  # kept, and counted
    assert (raw.reports[0].counts["unknown_users"], raw.reports[0].counts["unknown_movies"]) == (1, 1)
    assert all(report.skipped == 0 for report in raw.reports)


def test_movielens_u_data_only_and_missing_u_data(tmp_path):
    raw = load_movielens(movielens_dir(tmp_path / "only", "1\t10\t5\t1\n"))
    assert raw.users.empty and raw.movies.empty and len(raw.ratings) == 1
    (tmp_path / "none").mkdir()
    write(tmp_path / "none" / "u.item", item_line(10, "X") + "\n")
    with pytest.raises(DataFormatError, match="no u.data"):
        load_movielens(tmp_path / "none")


def test_movielens_u_genre_that_does_not_match_is_an_error(tmp_path):
    directory = movielens_dir(tmp_path, "1\t10\t5\t1\n", genre="Action|0\nDrama|2\n",
                              item=item_line(10, "X") + "\n")
    with pytest.raises(DataFormatError, match=r"u\.genre: expected lines 'name\|index'"):
        load_movielens(directory)


# --- too much of a file malformed: an error (check_malformed), not a model trained on the rest ----

def report_of(lines: int, skipped: int, blank: int = 0, **counts) -> ParseReport:
    report = ParseReport(source="events", lines=lines, skipped=skipped,
                         counts=dict(blank=blank, **counts))
    if skipped:
        report.first_of("malformed", "/data/events/e.log", 7, "bad time 'x'")
    return report


def test_the_limit_is_a_share_of_the_non_blank_lines():
    check_malformed([report_of(100, 5)], 0.05)                  # 5% is still fine
    check_malformed([report_of(120, 5, blank=20)], 0.05)
    check_malformed([report_of(0, 0)], 0.0)                     # nothing read, nothing malformed
    with pytest.raises(DataFormatError) as caught:
        check_malformed([report_of(106, 6, blank=6)], 0.05)
    assert str(caught.value) == (
        "events: 6 of 100 lines malformed (6.0%), more than the 5% allowed (TRAIN_MAX_MALFORMED, "
        "--max-malformed); first: /data/events/e.log:7: bad time 'x'")
    check_malformed([report_of(100, 100)], 1.0)                 # 1 turns the check off
    with pytest.raises(DataFormatError, match="1 of 1,000 lines"):
        check_malformed([report_of(1000, 1)], 0.0)
