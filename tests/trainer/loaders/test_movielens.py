"""MovieLens-100K loader: the real data set (read in place, never copied) and broken copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.inputs import item_line
from trainer.loaders.movielens import load_movielens
from trainer.loaders.report import DataFormatError

# ../shared/data/movielens-100k next to the repository, as on every developer machine and in CI.
REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "movielens-100k"


@pytest.fixture(scope="module")
def real():
    if not (REAL / "u.data").is_file():
        pytest.skip(f"MovieLens-100K not found at {REAL}")
    return load_movielens(REAL)


def test_real_movielens_100k(real):
    assert len(real.ratings) == 100_000
    assert real.ratings["user_id"].nunique() == 943 and len(real.users) == 943
    assert real.ratings["movie_id"].nunique() == 1682 and len(real.movies) == 1682
    assert all(report.skipped == 0 for report in real.reports)
    assert real.reports[0].counts["unknown_users"] == 0
    assert real.reports[0].counts["unknown_movies"] == 0
    assert real.watches.empty
    assert list(real.watches.columns) == ["user_id", "movie_id", "max_minute"]
    assert dict(real.ratings.dtypes.astype(str)) == {"user_id": "int64", "movie_id": "str",
                                                     "rating": "int8"}
    assert real.ratings["rating"].between(1, 5).all()


def test_real_movielens_tables(real):
    toy = real.movies.set_index("movie_id").loc["1"]
    assert (toy["title"], toy["year"], toy["genres"]) == (
        "Toy Story (1995)", 1995, "Animation|Children's|Comedy")
    first = real.users.set_index("user_id").loc[1]
    assert (first["age"], first["gender"], first["occupation"]) == (24, "M", "technician")
    assert dict(real.users.dtypes.astype(str)) == {"user_id": "int64", "age": "Int64",
                                                   "gender": "str", "occupation": "str"}
    assert real.movies["year"].isna().sum() == 1  # item 267, "unknown"


GENRES = [f"G{i}" for i in range(19)]


def test_broken_directory(tmp_path):
    (tmp_path / "u.data").write_text(
        "1\t10\t4\t881250949\n"
        "1\t10\t2\t881250950\n"          # the same pair again: the last line wins
        "2\t11\t7\t881250951\n"          # rating out of range
        "\n"
        "x\t11\t3\t881250952\n"          # bad user id
        "3\t12\t5\n"                     # missing field
        "3\t13\t1\t881250953\r\n"        # Windows line ending
        "4\t99\t3\t881250954")           # unknown item, no newline at the end
    (tmp_path / "u.user").write_text("1|24|M|technician|85711\n2|old|F|other|94043\n"
                                     "3|30|M|writer\n1|50|F|lawyer|11111\n4|40|X|none|1\n")
    flags = [0] * 19
    (tmp_path / "u.item").write_bytes("\n".join([
        item_line(10, "Am\u00e9lie (2001)", "01-Jan-2001", [0, 1] + flags[2:]),
        item_line(11, "No Date (1995)", "", [1] + flags[1:]),
        item_line(12, "Too Few Flags", "01-Jan-1990", flags[:18]),
        item_line(13, "Sequel", "02-Feb-1997", flags[:5] + [1] + flags[6:]),
        item_line(13, "Duplicate", "02-Feb-1997", flags),
    ]).encode("latin-1") + b"\n")
    raw = load_movielens(tmp_path)

    data, users, items = raw.reports
    assert sorted(map(tuple, raw.ratings.itertuples(index=False))) == [
        (1, "10", 2), (3, "13", 1), (4, "99", 3)]
    assert data.lines == 8 and data.skipped == 3 and data.counts["blank"] == 1
    assert [(line, reason.split(" ")[0]) for _, line, reason in data.examples] == [
        (3, "rating"), (5, "user"), (6, "3")]
    assert data.counts["repeated_ratings"] == 1
    assert (data.counts["unknown_users"], data.counts["unknown_movies"]) == (1, 1)  # 3, 99

    assert raw.users["user_id"].tolist() == [1, 2, 4]
    assert raw.users["age"].isna().tolist() == [False, True, False]
    assert raw.users["gender"].isna().tolist() == [False, False, True]
    assert [line for _, line, _ in users.examples] == [3, 4] and users.skipped == 2

    assert raw.movies.to_dict("list") == {
        "movie_id": ["10", "11", "13"],
        "title": ["Am\u00e9lie (2001)", "No Date (1995)", "Sequel"],
        "year": [2001, 1995, 1997],
        "genres": ["Action", "", "Comedy"],
    }
    assert [line for _, line, _ in items.examples] == [3, 5] and items.skipped == 2


def test_genre_names_come_from_u_genre(tmp_path):
    (tmp_path / "u.data").write_text("1\t1\t5\t0\n")
    (tmp_path / "u.genre").write_text("".join(f"{name}|{i}\n" for i, name in enumerate(GENRES))
                                      + "\n")
    (tmp_path / "u.item").write_text(item_line(1, "X (1990)", "", [0, 0, 1] + [0] * 16) + "\n")
    raw = load_movielens(tmp_path)
    assert raw.movies["genres"].tolist() == ["G2"]
    assert raw.users.empty and list(raw.users.columns) == ["user_id", "age", "gender",
                                                           "occupation"]


def test_missing_u_data_names_the_directory(tmp_path):
    with pytest.raises(DataFormatError, match=f"{tmp_path}: no u.data"):
        load_movielens(tmp_path)
