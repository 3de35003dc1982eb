"""Load the simulator's users.csv and movies.csv, and a whole simulator data directory.

users.csv:  ``user_id,age,occupation,gender`` (as the simulator's /user/<id> API returns them)
movies.csv: ``movie_id,title,year,genres,...`` (genres pipe-separated; a JSON list of names or
            of {"id", "name"} objects, as scraped from /movie/<id>, is accepted too; other
            columns are ignored)

A missing, empty or UTF-16 file or a missing required column (user_id, movie_id) is a
:class:`DataFormatError`. A bad row (wrong number of fields, id that is not valid, duplicate id) is
skipped and counted; a bad value in a kept row (age that is not a number or outside
``common.demographics.valid_age``'s 1..120, unknown gender, bad year) becomes NA and is counted;
bytes that are not UTF-8 become U+FFFD (counted once per file). A UTF-8 byte-order mark, Windows
or old Mac line endings and quoted fields with commas are fine. Line numbers count the header as
line 1 (a quoted field spanning lines would shift them).
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from trainer.loaders.eventlog import load_events
from trainer.loaders.frames import RawData, count_unknown_references, users_frame
from trainer.loaders.report import DataFormatError, ParseReport, excerpt

USER_COLUMNS = ("user_id", "age", "gender", "occupation")
MOVIE_COLUMNS = ("movie_id", "title", "year", "genres")


class _Issues:
    """Problems found column by column; reported in line order, first ones as examples."""

    def __init__(self):
        self.found: list[tuple[np.ndarray, np.ndarray, str, bool, str | None]] = []

    def add(self, mask, lines: np.ndarray, values: pd.Series, message: str,
            skipped: bool, kind: str | None = None) -> None:
        """``kind``: the count key of a kept row's repaired value (bad_age, ...)."""
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.found.append((lines[mask], values.to_numpy(dtype=object)[mask], message,
                               skipped, kind))

    def report_to(self, report: ParseReport, path: Path) -> None:
        rows = [(line, value, message, skipped, kind)
                for lines, values, message, skipped, kind in self.found
                for line, value in zip(lines.tolist(), values.tolist())]
        rows.sort(key=lambda row: row[0])
        for line, value, message, skipped, kind in rows:
            reason = message.format(value=value)
            if skipped:
                report.skip(path, line, reason)
            else:
                if kind:
                    report.first_of(kind, path, line, reason)
                report.note(path, line, reason)


def _read_strings(path: Path, required: tuple[str, ...], report: ParseReport,
                  issues: _Issues) -> tuple[pd.DataFrame, np.ndarray]:
    """Every cell as a stripped string ("" when empty), and each row's 1-based line number.

    Rows with the wrong number of fields (recorded in issues) and blank lines (counted) are
    dropped.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: file not found")
    raw = path.read_bytes()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise DataFormatError(f"{path}: UTF-16 text; save it as UTF-8 CSV")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
        report.add("not_utf8_replaced")
        raw = text.encode("utf-8")
    if not text.lstrip("\ufeff").strip():
        raise DataFormatError(f"{path}: empty file (expected a CSV header with {required[0]})")
    first_line = re.split(r"\r\n|\r|\n", text.lstrip("\ufeff"), maxsplit=1)[0]
    try:
        names = [name.strip() for name in next(csv.reader([first_line]), [])]
    except csv.Error as error:
        raise DataFormatError(f"{path}:1: unreadable CSV header ({error})") from None
    for column in required:
        if column not in names:
            raise DataFormatError(f"{path}: missing column {column!r} "
                                  f"(header: {excerpt(first_line)!r})")
    if not raw.endswith((b"\n", b"\r")):
        raw += b"\n"  # a header without a newline is a file without rows

    bad_rows: list[tuple[int, str, int, int]] = []

    def invalid_row(row) -> str:
        bad_rows.append((row.number, row.text, row.expected_columns, row.actual_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            io.BytesIO(raw),
            # One block for the whole file (it is in memory anyway): a row may be of any length.
            read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1,
                                           block_size=min(max(1 << 20, len(raw) + 1), 2**31 - 1)),
            parse_options=pacsv.ParseOptions(invalid_row_handler=invalid_row,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in names}, strings_can_be_null=False))
    except pa.ArrowException as error:
        raise DataFormatError(f"{path}: not readable as CSV ({error})") from None
    frame = table.to_pandas()
    frame.columns = names
    frame = frame.loc[:, ~frame.columns.duplicated()].apply(lambda column: column.str.strip())
    skipped = {number for number, *_ in bad_rows}
    line = np.setdiff1d(np.arange(2, 2 + len(frame) + len(bad_rows)), sorted(skipped))
    if bad_rows:
        numbers, texts, expected, actual = zip(*bad_rows)
        issues.add(np.ones(len(bad_rows), bool), np.array(numbers),
                   pd.Series([(e, a, excerpt(t)) for t, e, a in zip(texts, expected, actual)],
                             dtype=object),
                   "{value[1]} fields instead of {value[0]}: {value[2]!r}", skipped=True)

    blank = (frame == "").all(axis=1).to_numpy()
    report.lines = len(frame) + len(bad_rows)
    report.add("blank", int(blank.sum()))
    return frame[~blank].reset_index(drop=True), line[~blank]


def _checked_ids(frame: pd.DataFrame, column: str, lines: np.ndarray, issues: _Issues,
                 pattern: str, what: str) -> np.ndarray:
    """Mask of rows with a valid, first-seen id; the others are recorded as skipped."""
    ids = frame[column]
    good = ids.str.fullmatch(pattern).fillna(False).to_numpy(dtype=bool)
    issues.add(~good, lines, ids, f"{column} {{value!r}} is not {what}", skipped=True)
    duplicate = good & ids.duplicated(keep="first").to_numpy()
    if duplicate.any():
        first_line = pd.Series(lines).groupby(ids.to_numpy()).transform("first").to_numpy()
        pairs = pd.Series(list(zip(ids, first_line)), dtype=object)
        issues.add(duplicate, lines, pairs,
                   f"duplicate {column} {{value[0]!r}} (first on line {{value[1]}})", skipped=True)
    return good & ~duplicate


def _read_table(path: Path, id_column: str, columns, id_pattern: str, id_meaning: str):
    """A users/movies CSV as text columns (missing optional ones empty), its line numbers, which
    rows have a valid id (the others counted as skipped), the report and the issue list."""
    report = ParseReport(source=path.name)
    issues = _Issues()
    frame, lines = _read_strings(path, (id_column,), report, issues)
    for column in columns:
        if column not in frame:
            frame[column] = ""
    keep = _checked_ids(frame, id_column, lines, issues, id_pattern, id_meaning)
    return frame, lines, keep, report, issues


def load_users(path: Path) -> tuple[pd.DataFrame, ParseReport]:
    """users.csv -> (user_id int64, age Int64, gender "M"/"F"/NA, occupation str/NA), report."""
    path = Path(path)
    frame, lines, keep, report, issues = _read_table(path, "user_id", USER_COLUMNS, r"\d{1,18}",
                                                     "a non-negative integer")
    frame, lines = frame[keep].reset_index(drop=True), lines[keep]
    users, bad_age, bad_gender = users_frame(frame["user_id"], frame["age"], frame["gender"],
                                             frame["occupation"])
    issues.add(bad_age, lines, frame["age"],
               "age {value!r} is not a valid age (kept, age unknown)", skipped=False,
               kind="bad_age")
    issues.add(bad_gender, lines, frame["gender"],
               "gender {value!r} is not M or F (kept, gender unknown)", skipped=False,
               kind="bad_gender")
    issues.report_to(report, path)
    report.add("bad_age", int(bad_age.sum()))
    report.add("bad_gender", int(bad_gender.sum()))
    report.add("users", len(users))
    return users, report


_YEAR_IN_SLUG = re.compile(r"\+(\d{4})$")


def normalize_genres(value: str) -> str:
    """'Action|Comedy', 'Action, Comedy', '["Action"]', '[{"id": 28, "name": "Action"}]'
    -> 'Action|Comedy' ('' when none). JSON items that are not names (null, numbers in "name",
    nested lists) are left out."""
    value = value.strip()
    if value.startswith("["):
        try:
            items = json.loads(value)
        except ValueError:
            try:
                items = json.loads(value.replace("'", '"'))
            except ValueError:
                items = [value.strip("[]")]
        names = [item.get("name") if isinstance(item, dict) else item for item in items]
        names = [str(name) if isinstance(name, int) and not isinstance(name, bool) else name
                 for name in names]
        names = [name for name in names if isinstance(name, str)]
    else:
        names = re.split(r"[|,]", value)
    return "|".join(name.strip() for name in names if name and name.strip())


def load_movies(path: Path) -> tuple[pd.DataFrame, ParseReport]:
    """movies.csv -> (movie_id str, title str, year Int64, genres "A|B"), report."""
    path = Path(path)
    frame, lines, keep, report, issues = _read_table(path, "movie_id", MOVIE_COLUMNS, r"[^\s,]+",
                                                     "a movie id (no spaces or commas)")

    year_text = frame["year"]
    year = pd.to_numeric(year_text, errors="coerce")
    bad_year = (year_text != "") & (year.isna() | (year < 1800) | (year > 2100)
                                    | (year != year.round()))
    issues.add(keep & bad_year.to_numpy(), lines, year_text,
               "year {value!r} is not a year (kept, year from the id if it ends in one)",
               skipped=False, kind="bad_year")
    from_slug = pd.to_numeric(frame["movie_id"].str.extract(_YEAR_IN_SLUG, expand=False),
                              errors="coerce")
    year = year.where(~bad_year & (year_text != ""), from_slug)
    issues.report_to(report, path)
    report.add("bad_year", int((keep & bad_year.to_numpy()).sum()))

    movies = pd.DataFrame({
        "movie_id": frame["movie_id"][keep].astype("str"),
        "title": frame["title"][keep].astype("str"),
        "year": year[keep].astype("Int64"),
        "genres": frame["genres"][keep].map(normalize_genres).astype("str"),
    }).reset_index(drop=True)
    report.add("movies", len(movies))
    return movies, report


def load_simulator_dir(data_dir: Path, protocol: str = "f2023", window_days: float = 0.0) -> RawData:
    """A directory in the simulator's formats: users.csv, movies.csv and events/*.log (of that
    protocol; within window_days of the newest event when > 0, see load_events).

    Events that name users or movies missing from the tables are kept; the events report
    counts them (``unknown_users``, ``unknown_movies``).
    """
    data_dir = Path(data_dir)
    missing = [name for name in ("users.csv", "movies.csv", "events") if
               not (data_dir / name).exists()]
    if missing:
        raise DataFormatError(
            f"{data_dir}: missing {', '.join(missing)} (expected users.csv, movies.csv and "
            f"events/*.log; see data/README.md, or generate some with "
            f"`trainer generate-data --preset default --out {data_dir}`)")
    users, users_report = load_users(data_dir / "users.csv")
    movies, movies_report = load_movies(data_dir / "movies.csv")
    watches, ratings, events_report = load_events(data_dir / "events", protocol=protocol, window_days=window_days)
    count_unknown_references(events_report, users, movies, watches, ratings)
    return RawData(users=users, movies=movies, watches=watches, ratings=ratings,
                   reports=[users_report, movies_report, events_report])
