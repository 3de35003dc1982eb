"""The choice model (simulator/choice.py) on examples small enough to reason about."""

from __future__ import annotations

import numpy as np

from simulator.choice import choose
from simulator.config import ChoiceParams


def shares(params, appeal, listed, watched=frozenset(), n=4000, seed=0):
    rng = np.random.default_rng(seed)
    picks = [choose(rng, params, appeal, listed, set(watched)) for _ in range(n)]
    return {key: sum(1 for p in picks if p == key) / n for key in set(picks)}


def test_a_listed_movie_is_taken_more_when_liked_more_and_listed_higher():
    params = ChoiceParams(leave_share=0.0, outside_shift=-3.0, rank_decay=1.0)
    appeal = np.zeros(50)
    appeal[[1, 2]] = 2.0
    first = shares(params, appeal, [1, 2])
    assert first[(1, 1)] > first[(2, 2)] > 0.05              # same appeal: rank 1 beats rank 2
    appeal[2] = 4.0
    liked = shares(params, appeal, [1, 2])
    assert liked[(2, 2)] > first[(2, 2)]                     # liked more: taken more


def test_organic_picks_follow_the_appeal_and_never_repeat_a_watched_movie():
    params = ChoiceParams(leave_share=0.0)
    appeal = np.array([0.0, 0.0, 3.0, 0.0])
    picks = shares(params, appeal, [], watched={0})
    assert (0, None) not in picks and picks[(2, None)] > 0.7


def test_leaving_without_watching():
    picks = shares(ChoiceParams(leave_share=0.3), np.zeros(10), [1, 2])
    assert abs(picks[(None, None)] - 0.3) < 0.03
