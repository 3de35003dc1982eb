"""What every loader returns: :class:`RawData`, frames with the same column types whichever file
format the data came from, so that the steps after loading never care where it came from.

Also the pieces of those frames that more than one loader builds: the empty frames (a part that
is not there), the users schema from text columns (:func:`users_frame`, with the one age rule of
:mod:`common.demographics`) and the count of ids that interactions name but the tables lack.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from common.demographics import normalize_gender, valid_age
from trainer.loaders.report import ParseReport


def empty_users() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": pd.Series([], dtype="int64"),
        "age": pd.Series([], dtype="Int64"),
        "gender": pd.Series([], dtype="str"),
        "occupation": pd.Series([], dtype="str"),
    })


def empty_movies() -> pd.DataFrame:
    return pd.DataFrame({
        "movie_id": pd.Series([], dtype="str"),
        "title": pd.Series([], dtype="str"),
        "year": pd.Series([], dtype="Int64"),
        "genres": pd.Series([], dtype="str"),
    })


def empty_watches() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": pd.Series([], dtype="int64"),
        "movie_id": pd.Series([], dtype="str"),
        "max_minute": pd.Series([], dtype="int32"),
    })


def empty_ratings() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": pd.Series([], dtype="int64"),
        "movie_id": pd.Series([], dtype="str"),
        "rating": pd.Series([], dtype="int8"),
    })


@dataclass
class RawData:
    users: pd.DataFrame     # user_id int64, age Int64, gender str ("M"/"F"/NA), occupation str/NA
    movies: pd.DataFrame    # movie_id str, title str, year Int64, genres str ("Action|Comedy", "")
    watches: pd.DataFrame   # user_id int64, movie_id str, max_minute int32; one row per pair
    ratings: pd.DataFrame   # user_id int64, movie_id str, rating int8 (1..5); last one in log order
    reports: list[ParseReport]

    def summary(self) -> str:
        return "\n".join(report.summary() for report in self.reports)


def users_frame(user_id: pd.Series, age: pd.Series, gender: pd.Series,
                occupation: pd.Series) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The users schema from stripped text columns (ids already checked), and the masks of the
    ages and genders that were given but are unusable (they become NA). An age is usable when
    :func:`common.demographics.valid_age` says so (the rule the replicas apply too)."""
    years = pd.to_numeric(age, errors="coerce")
    bad_age = ((age != "") & ~valid_age(years)).to_numpy()
    normalized = gender.map({value: normalize_gender(value) for value in gender.unique()})
    bad_gender = ((gender != "") & normalized.isna()).to_numpy()
    users = pd.DataFrame({
        "user_id": user_id.astype("int64"),
        "age": years.where(~bad_age).round().astype("Int64"),
        "gender": normalized.astype("str").where(normalized.notna()),
        "occupation": occupation.replace("", None).astype("str"),
    }).reset_index(drop=True)
    return users, bad_age, bad_gender


def count_unknown_references(report: ParseReport, users: pd.DataFrame, movies: pd.DataFrame,
                             *interactions: pd.DataFrame) -> None:
    """Count the distinct users and movies that interactions name but the tables do not list.

    They are kept (a user may be missing from a scraped table); the counts tell the operator.
    """
    user_ids = pd.concat([frame["user_id"] for frame in interactions]).unique()
    movie_ids = pd.concat([frame["movie_id"] for frame in interactions]).unique()
    report.counts["unknown_users"] = int((~pd.Index(user_ids).isin(users["user_id"])).sum())
    report.counts["unknown_movies"] = int((~pd.Index(movie_ids).isin(movies["movie_id"])).sum())
