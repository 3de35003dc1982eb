"""What a simulated user does with a list of recommendations: the choice model.

A user u's true appeal of movie m is the generator's own:

    appeal(u, m) = popularity_bias(m) + user_vector(u) . movie_vector(m)

(trainer/synthetic/world.py: the day-0 data was drawn from softmax(appeal), so the live users
and the training data come from one world; the user vector drifts, see population.py.)

Shown a list, the user takes one of 1 + len(list) options by a multinomial logit:

    listed movie at rank r:  weight = exp(appeal(u, m)) * r ** -rank_decay
    an organic pick:         weight = exp(outside_shift) * sum over unwatched m of exp(appeal(u, m))

so a listed movie is taken more often the more the user likes it and the higher it is listed,
and a list of movies the user would pick anyway on their own is followed more than a random one.
An organic pick is drawn from softmax(appeal) over the movies the user has not watched. A
session ends without any watch with probability leave_share (and always an organic pick when the
service failed to answer). How long they watch: a share of the runtime drawn from a Beta whose
mean rises with appeal; a rating follows with probability rating_share, higher for higher appeal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.config import ChoiceParams


@dataclass(frozen=True)
class Choice:
    movie: int | None        # movie index, None: left without watching
    rank: int | None         # 1-based rank in the list when it was a listed movie
    minutes: int = 0
    rating: int | None = None  # on the protocol's scale


def softmax_pick(rng: np.random.Generator, log_weights: np.ndarray) -> int:
    top = log_weights.max()
    weights = np.exp(log_weights - top)
    return int(rng.choice(len(weights), p=weights / weights.sum()))


def choose(rng: np.random.Generator, params: ChoiceParams, appeal: np.ndarray, listed: list[int],
           watched: set[int]) -> tuple[int | None, int | None]:
    """(movie index, rank) the user starts watching, given their appeal of every movie, the
    listed movie indices (best first; may be empty) and what they watched before."""
    if rng.random() < params.leave_share:
        return None, None
    available = appeal.copy()
    if watched:
        available[list(watched)] = -np.inf
    organic = float(np.logaddexp.reduce(available[np.isfinite(available)])) if np.isfinite(available).any() else -np.inf
    fresh = [(rank, m) for rank, m in enumerate(listed, start=1) if m not in watched]
    options = np.array([organic + params.outside_shift]
                       + [appeal[m] - params.rank_decay * np.log(rank) for rank, m in fresh])
    picked = softmax_pick(rng, options)
    if picked > 0:
        rank, movie = fresh[picked - 1]
        return movie, rank
    if not np.isfinite(organic):
        return None, None
    return softmax_pick(rng, available), None


def watch_minutes(rng: np.random.Generator, runtime: int, z: float) -> int:
    """Minutes watched of a `runtime`-minute movie; z: the appeal standardised over the catalogue."""
    mean = 1.0 / (1.0 + np.exp(-(0.9 + 0.8 * z)))       # about 0.7 of the runtime on average
    share = rng.beta(4.0 * mean, 4.0 * (1.0 - mean))
    return int(np.clip(np.ceil(share * runtime), 1, runtime))


def rating(rng: np.random.Generator, params: ChoiceParams, z: float, scale: int) -> int | None:
    """A rating on 1..scale for a watched movie (None: not rated); higher for higher appeal."""
    if rng.random() >= params.rating_share:
        return None
    stars = float(np.clip(3.5 + 0.9 * z + rng.normal(0.0, 0.7), 1.0, 5.0))   # as the generator's
    if scale == 10:
        return int(np.clip(np.rint(stars * 2.0 + rng.choice([-1, 0])), 1, 10))
    return int(np.rint(stars))
