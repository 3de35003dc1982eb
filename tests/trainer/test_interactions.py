import pandas as pd
import pytest

from trainer.interactions import build_interactions


def frame(rows, columns):
    return pd.DataFrame(rows, columns=columns)


def test_watch_time_and_ratings_set_the_weight():
    watches = frame([(1, "a", 1), (1, "b", 30), (1, "c", 5), (2, "a", 10)], ["user_id", "movie_id", "max_minute"])
    ratings = frame([(1, "c", 5), (2, "a", 2), (2, "d", 3), (3, "e", 4)], ["user_id", "movie_id", "rating"])
    result = build_interactions(watches, ratings).frame.set_index(["user_id", "movie_id"])["weight"]
    assert result[(1, "a")] == pytest.approx(0.25 + 1 / 20)   # a one-minute watch
    assert result[(1, "b")] == pytest.approx(1.0)             # long watches are capped at 1
    assert result[(1, "c")] == pytest.approx(2.0)             # rated 5: strong positive
    assert result[(2, "a")] == 0.0                            # rated 2: seen, not a positive
    assert result[(2, "d")] == pytest.approx(1.0)             # rated 3 without a watch
    assert result[(3, "e")] == pytest.approx(2.0)             # rated 4 without a watch
    assert len(result) == 6


def test_positives_leave_out_dislikes_but_every_pair_stays_seen():
    watches = frame([(1, "a", 10)], ["user_id", "movie_id", "max_minute"])
    ratings = frame([(1, "a", 1), (1, "b", 5)], ["user_id", "movie_id", "rating"])
    interactions = build_interactions(watches, ratings)
    assert len(interactions) == 2
    assert interactions.positives["movie_id"].tolist() == ["b"]
