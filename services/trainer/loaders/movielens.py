"""Load a MovieLens-100K directory into the same frames as the simulator's data.

- ``u.data`` (required): ``user<TAB>item<TAB>rating<TAB>timestamp`` -> ratings
- ``u.user`` (optional): ``user|age|gender|occupation|zip`` -> users
- ``u.item`` (optional, latin-1): ``item|title|release date|video release date|url|<flags>``
  with one 0/1 flag per genre; genre names from ``u.genre`` if present, else the standard 19
- movie_id is the item id as a string; the year comes from the release date ("01-Jan-1995"),
  else from "(1995)" at the end of the title. The "unknown" genre is left out of genres.

There are no watch events: ``watches`` is empty. Malformed lines are counted and reported with
their line numbers, as for the event log; duplicate ids keep the first row, duplicate ratings
the last line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from trainer.loaders.frames import (RawData, count_unknown_references, empty_movies, empty_users,
                                    empty_watches, users_frame)
from trainer.loaders.lines import lines_array, note_invalid
from trainer.loaders.report import DataFormatError, ParseReport

GENRES_100K = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
    "Sci-Fi", "Thriller", "War", "Western",
)

_END = r"[ \t\r]*\n?$"
DATA_PATTERN = rf"^(?P<user>\d{{1,18}})\t(?P<item>\d{{1,18}})\t(?P<rating>[1-5])\t\d+{_END}"
USER_PATTERN = (rf"^(?P<user>\d{{1,18}})\|(?P<age>[^|\n]*)\|(?P<gender>[^|\n]*)"
                rf"\|(?P<occupation>[^|\n]*)\|[^|\n]*{_END}")


def _item_pattern(n_genres: int) -> str:
    flags = r"[01]" + r"\|[01]" * (n_genres - 1)
    return (rf"^(?P<item>\d{{1,18}})\|(?P<title>[^|\n]*)\|(?P<date>[^|\n]*)\|[^|\n]*\|[^|\n]*"
            rf"\|(?P<flags>{flags}){_END}")


def _parse(path: Path, pattern: str, reason) -> tuple[pd.DataFrame, np.ndarray, ParseReport]:
    """The named groups of every line that matches, their 1-based line numbers, and the report.

    MovieLens files are latin-1; they are small enough to be read whole.
    """
    report = ParseReport(source=path.name)
    lines = lines_array(path.read_bytes().decode("latin-1").encode("utf-8"))
    text = lines.cast(pa.large_string())
    valid = pc.match_substring_regex(text, pattern).to_numpy(zero_copy_only=False)
    report.lines = len(lines)
    note_invalid(report, path, 1, lines, valid, reason)
    fields = pc.extract_regex(text.filter(pa.array(valid)), pattern)
    frame = pd.DataFrame({name: fields.field(name).to_pandas().astype("str").str.strip()
                          for name in fields.type.names})
    return frame, np.flatnonzero(valid) + 1, report


def _first_seen(frame: pd.DataFrame, column: str, lines: np.ndarray, path: Path,
                report: ParseReport) -> tuple[pd.DataFrame, np.ndarray]:
    """Drop (and count) rows whose id was already seen on an earlier line; return the other rows
    and their line numbers."""
    duplicate = frame[column].duplicated(keep="first").to_numpy()
    for line, value in zip(lines[duplicate], frame[column][duplicate]):
        report.skip(path, int(line), f"duplicate {column} {value!r}")
    return frame[~duplicate].reset_index(drop=True), lines[~duplicate]


def _data_reason(text: str) -> str:
    fields = text.rstrip("\r\n").split("\t")
    if len(fields) != 4:
        return f"{len(fields)} tab-separated fields instead of 4"
    if not all(field.strip().isdigit() and len(field.strip()) <= 18 for field in fields[:2]):
        return "user or item id is not a non-negative integer (at most 18 digits)"
    return f"rating {fields[2]!r} is not in 1..5" if fields[3].strip().isdigit() else \
        f"timestamp {fields[3]!r} is not an integer"


def _fields_reason(expected: int):
    def reason(text: str) -> str:
        fields = text.rstrip("\r\n").split("|")
        if len(fields) != expected:
            return f"{len(fields)} '|'-separated fields instead of {expected}"
        if not (fields[0].isdigit() and len(fields[0]) <= 18):
            return f"id {fields[0]!r} is not a non-negative integer (at most 18 digits)"
        return "bad genre flags (expected 0 or 1)"
    return reason


def _load_ratings(path: Path) -> tuple[pd.DataFrame, ParseReport]:
    frame, _, report = _parse(path, DATA_PATTERN, _data_reason)
    ratings = pd.DataFrame({
        "user_id": frame["user"].astype("int64"),
        "movie_id": frame["item"].str.lstrip("0").replace("", "0").astype("str"),
        "rating": frame["rating"].astype("int8"),
    })
    before = len(ratings)
    ratings = ratings.drop_duplicates(["user_id", "movie_id"], keep="last")
    report.add("ratings", len(ratings))
    report.add("repeated_ratings", before - len(ratings))
    return ratings.sort_values(["user_id", "movie_id"], kind="stable").reset_index(drop=True), \
        report


def _load_users(path: Path) -> tuple[pd.DataFrame, ParseReport]:
    frame, lines, report = _parse(path, USER_PATTERN, _fields_reason(5))
    frame, lines = _first_seen(frame, "user", lines, path, report)
    users, bad_age, bad_gender = users_frame(frame["user"], frame["age"], frame["gender"],
                                             frame["occupation"])
    for kind, bad, column, what in (("bad_age", bad_age, "age", "a valid age"),
                                    ("bad_gender", bad_gender, "gender", "M or F")):
        for index in np.flatnonzero(bad)[:1]:
            reason = f"{column} {frame[column][index]!r} is not {what} (kept, {column} unknown)"
            report.first_of(kind, path, int(lines[index]), reason)
    report.add("bad_age", int(bad_age.sum()))
    report.add("bad_gender", int(bad_gender.sum()))
    report.add("users", len(users))
    return users, report


def _genre_names(directory: Path) -> tuple[str, ...]:
    """Genre names in flag order, from u.genre ("name|index" lines) when it is there."""
    path = directory / "u.genre"
    if not path.is_file():
        return GENRES_100K
    names = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        name, sep, index = line.strip().rpartition("|")
        if sep and index.strip().isdigit():
            names[int(index)] = name.strip()
    if sorted(names) != list(range(len(names))) or not names:
        raise DataFormatError(f"{path}: expected lines 'name|index' with indices 0..n-1")
    return tuple(names[i] for i in range(len(names)))


def _load_movies(path: Path, genres: tuple[str, ...]) -> tuple[pd.DataFrame, ParseReport]:
    frame, lines, report = _parse(path, _item_pattern(len(genres)), _fields_reason(5 + len(genres)))
    frame, _ = _first_seen(frame, "item", lines, path, report)
    flags = (np.array([row.split("|") for row in frame["flags"]], dtype=np.int8)
             if len(frame) else np.zeros((0, len(genres)), np.int8)).astype(bool)
    named = np.array([name != "unknown" for name in genres])
    names = np.array(genres, dtype=object)
    year = pd.to_numeric(frame["date"].str.extract(r"(\d{4})\s*$", expand=False), errors="coerce")
    from_title = pd.to_numeric(frame["title"].str.extract(r"\((\d{4})\)\s*$", expand=False),
                               errors="coerce")
    movies = pd.DataFrame({
        "movie_id": frame["item"].str.lstrip("0").replace("", "0").astype("str"),
        "title": frame["title"].astype("str"),
        "year": year.fillna(from_title).astype("Int64"),
        "genres": pd.Series(["|".join(names[row & named]) for row in flags], dtype="str"),
    })
    report.add("movies", len(movies))
    return movies, report


def load_movielens(directory: Path) -> RawData:
    """Read a MovieLens-100K directory (u.data required; u.user, u.item, u.genre optional)."""
    directory = Path(directory)
    if not (directory / "u.data").is_file():
        raise DataFormatError(f"{directory}: no u.data here; expected a MovieLens-100K "
                              f"directory (u.data, u.user, u.item, u.genre)")
    ratings, data_report = _load_ratings(directory / "u.data")
    reports = [data_report]
    users, movies = empty_users(), empty_movies()
    if (directory / "u.user").is_file():
        users, report = _load_users(directory / "u.user")
        reports.append(report)
    if (directory / "u.item").is_file():
        movies, report = _load_movies(directory / "u.item", _genre_names(directory))
        reports.append(report)
    count_unknown_references(data_report, users, movies, ratings)
    return RawData(users=users, movies=movies, watches=empty_watches(), ratings=ratings,
                   reports=reports)
