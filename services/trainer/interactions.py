"""From watches and ratings to weighted training interactions and the per-user seen sets.

Weighting (documented in the README):
- every (user, movie) pair that was watched or rated is *seen*: it is never recommended back, and in
  offline evaluation a held-out seen pair counts as relevant (the user chose that movie);
- a watch is a positive with weight 0.25 + max_minute / 20, capped at 1 (a longer watch is stronger);
- a rating of 4 or 5 makes the pair a strong positive, weight 2; a rating of 3 makes it at least 1;
- a rating of 1 or 2 is an explicit dislike: the pair stays seen but is not a training positive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

STRONG_WEIGHT = 2.0
NEUTRAL_WEIGHT = 1.0


@dataclass(frozen=True)
class Interactions:
    """One row per seen (user, movie); `weight` is 0 for pairs that are seen but not positives."""

    frame: pd.DataFrame  # user_id int64, movie_id str, weight float32

    @property
    def positives(self) -> pd.DataFrame:
        return self.frame[self.frame["weight"] > 0]

    def __len__(self) -> int:
        return len(self.frame)


def watch_weight(max_minute: pd.Series) -> pd.Series:
    return np.minimum(1.0, 0.25 + max_minute.astype("float32") / 20.0)


def build_interactions(watches: pd.DataFrame, ratings: pd.DataFrame) -> Interactions:
    watched = watches[["user_id", "movie_id"]].assign(watch=watch_weight(watches["max_minute"]))
    rated = ratings[["user_id", "movie_id", "rating"]]
    pairs = watched.merge(rated, on=["user_id", "movie_id"], how="outer")
    weight = pairs["watch"].fillna(0.0).astype("float32")
    rating = pairs["rating"].fillna(0).astype("int8")
    weight = np.where(rating >= 4, STRONG_WEIGHT, np.where(rating == 3, np.maximum(weight, NEUTRAL_WEIGHT), weight))
    weight = np.where((rating >= 1) & (rating <= 2), 0.0, weight)
    frame = pd.DataFrame(
        {
            "user_id": pairs["user_id"].astype("int64").to_numpy(),
            "movie_id": pairs["movie_id"].astype(str).to_numpy(),
            "weight": np.asarray(weight, dtype="float32"),
        }
    )
    return Interactions(frame.sort_values(["user_id", "movie_id"], kind="stable").reset_index(drop=True))
