"""users.csv / movies.csv loaders and the simulator directory loader."""

from __future__ import annotations

import pandas as pd
import pytest

from common.demographics import MAX_AGE, MIN_AGE, age_bucket
from trainer.loaders.report import DataFormatError
from trainer.loaders.tables import load_movies, load_simulator_dir, load_users, normalize_genres
from trainer.synthetic.generate import generate

USERS = """\
user_id,age,occupation,gender
1,24,programmer,M
2,abc,writer,F

x7,30,artist,M
1,40,lawyer,F
3,,,
4,33,scientist,female,extra
5, 41.0 ,executive/managerial, m
6,-3,other,Q
"""


def write(tmp_path, name, text, encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding) if isinstance(text, str) else text)
    return path


def test_users_with_bad_rows(tmp_path):
    path = write(tmp_path, "users.csv", USERS)
    users, report = load_users(path)
    assert users["user_id"].tolist() == [1, 2, 3, 5, 6]
    assert users["age"].tolist() == [24, pd.NA, pd.NA, 41, pd.NA]
    assert users["gender"].tolist()[:2] == ["M", "F"] and users["gender"].tolist()[3] == "M"
    assert users["gender"].isna().tolist() == [False, False, True, False, True]
    assert users["occupation"].tolist()[:2] == ["programmer", "writer"]
    assert pd.isna(users["occupation"][2])
    assert dict(users.dtypes.astype(str)) == {"user_id": "int64", "age": "Int64",
                                              "gender": "str", "occupation": "str"}
    assert report.lines == 9 and report.skipped == 3
    assert report.counts == {"blank": 1, "bad_age": 2, "bad_gender": 1, "users": 5}
    assert [(line, reason.split(" ")[0]) for _, line, reason in report.examples] == [
        (3, "age"), (5, "user_id"), (6, "duplicate"), (8, "5"), (10, "age"), (10, "gender")]
    assert all(p == str(path) for p, _, _ in report.examples)
    assert "(first on line 2)" in report.examples[2][2]


@pytest.mark.parametrize("age, usable", [
    ("0", False), ("0.5", False), ("1", True), ("17.4", True), ("120", True), ("120.5", False), ("130", False),
    ("-1", False), ("inf", False), ("nan", False), ("x", False),
])
def test_the_loaders_and_the_replicas_share_one_age_rule(tmp_path, age, usable):
    """An age the loader keeps is one the replicas make an age feature of, and the other way round."""
    users, report = load_users(write(tmp_path, "users.csv", f"user_id,age\n1,{age}\n"))
    assert (report.counts["bad_age"] == 0) is usable
    assert pd.notna(users["age"][0]) is usable
    assert (age_bucket(age) is not None) is usable
    if usable:
        assert age_bucket(users["age"][0]) is not None
    assert (MIN_AGE, MAX_AGE) == (1, 120)


def test_missing_required_column_names_file_and_column(tmp_path):
    path = write(tmp_path, "users.csv", "id,age\n1,2\n")
    with pytest.raises(DataFormatError, match=rf"{path}: missing column 'user_id'"):
        load_users(path)
    with pytest.raises(DataFormatError, match="movies.csv: file not found"):
        load_movies(tmp_path / "movies.csv")


def test_optional_user_columns_may_be_missing(tmp_path):
    users, report = load_users(write(tmp_path, "users.csv", "user_id\n7\n8\n"))
    assert users["user_id"].tolist() == [7, 8]
    assert users["age"].isna().all() and users["gender"].isna().all()
    assert report.skipped == 0


def test_non_utf8_users_file_is_read_with_replacement(tmp_path):
    path = write(tmp_path, "users.csv", b"user_id,age,occupation,gender\n1,20,caf\xe9,M\n")
    users, report = load_users(path)
    assert users["occupation"][0] == "caf\ufffd" and report.counts["not_utf8_replaced"] == 1


MOVIES = """\
movie_id,title,year,genres,tmdb_id
the+matrix+1999,The Matrix,1999,Action|Science Fiction,603
toy+story+1995,Toy Story,,"[{""id"": 16, ""name"": ""Animation""}, {""id"": 35, ""name"": ""Comedy""}]",862
the+matrix+1999,The Matrix again,1999,Action,603
heat+1995,Heat,nineteen,"Action, Crime",949
bad id+2000,Bad,2000,Drama,1
up+2009,Up,2009,,2
"""


def test_movies_with_bad_rows(tmp_path):
    movies, report = load_movies(write(tmp_path, "movies.csv", MOVIES))
    assert movies.to_dict("list") == {
        "movie_id": ["the+matrix+1999", "toy+story+1995", "heat+1995", "up+2009"],
        "title": ["The Matrix", "Toy Story", "Heat", "Up"],
        "year": [1999, 1995, 1995, 2009],
        "genres": ["Action|Science Fiction", "Animation|Comedy", "Action|Crime", ""],
    }
    assert dict(movies.dtypes.astype(str)) == {"movie_id": "str", "title": "str",
                                               "year": "Int64", "genres": "str"}
    assert report.skipped == 2 and report.counts["bad_year"] == 1
    assert [line for _, line, _ in report.examples] == [4, 5, 6]


@pytest.mark.parametrize("text, expected", [
    ("Action|Comedy", "Action|Comedy"),
    (" Action , Comedy ", "Action|Comedy"),
    ('["Action", "Comedy"]', "Action|Comedy"),
    ("[{'id': 28, 'name': 'Action'}]", "Action"),
    ("", ""),
])
def test_normalize_genres(text, expected):
    assert normalize_genres(text) == expected


def test_simulator_dir_keeps_events_for_unknown_users_and_movies(tmp_path):
    summary = generate("small", tmp_path, seed=9, n_users=20, n_movies=30, interactions=60)
    with open(tmp_path / "events" / "events-0001.log", "a") as log:
        log.write("2023-12-01T00:00:00,999,GET /data/m/not+in+the+table+2020/3.mpg\n")
        log.write("2023-12-01T00:00:01,998,GET /rate/not+in+the+table+2020=5\n")
    raw = load_simulator_dir(tmp_path)
    assert len(raw.watches) == summary["interactions"] + 1
    assert len(raw.ratings) == summary["ratings"] + 1
    events = raw.reports[2]
    assert (events.counts["unknown_users"], events.counts["unknown_movies"]) == (2, 1)
    assert [report.source for report in raw.reports] == ["users.csv", "movies.csv", "events"]
    assert len(raw.summary().splitlines()) == 3


def test_simulator_dir_missing_parts(tmp_path):
    write(tmp_path, "users.csv", "user_id\n1\n")
    with pytest.raises(DataFormatError, match="missing movies.csv, events"):
        load_simulator_dir(tmp_path)
