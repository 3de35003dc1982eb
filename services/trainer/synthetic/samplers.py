"""What the users of a :class:`~trainer.synthetic.world.World` do: which movies each one watches,
and the sessions and events of those watches.

- users have a long-tailed number of movies, and some have none (cold start);
- a user's movies are drawn without replacement, exactly, from
  ``softmax(popularity + user . movie)`` (the genre taste is part of the vectors);
- most watches stop early (geometric number of minutes, longer for movies the user likes);
  about 30% of watched movies get a rating, higher for higher affinity; a few ratings are
  changed later (the log's last rating wins), a few watches are resumed in a second session.

Everything is vectorized: no Python loop over users, movies or events.
"""

from __future__ import annotations

import numpy as np

from trainer.synthetic.world import World


# --- what each user watches -------------------------------------------------------------------

def interactions_per_user(rng: np.random.Generator, params: dict) -> np.ndarray:
    """A long-tailed (log-normal) number of distinct movies per user, summing to the target;
    cold_share of the users (and a few with a tiny draw) get none."""
    n = params["n_users"]
    cap = max(1, min(params["max_per_user"], params["n_movies"] // 2))
    spread = params["interaction_sigma"] * rng.standard_normal(n)
    active = rng.random(n) >= params["cold_share"]
    target = min(params["interactions"], cap * int(active.sum()))

    def counts(log_scale: float) -> np.ndarray:
        return np.where(active, np.minimum(np.floor(np.exp(log_scale + spread)), cap), 0
                        ).astype(np.int64)

    # Scale the draws so that the total hits the target despite floor() and the cap.
    low, high = -20.0, 20.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if counts(middle).sum() < target else (low, middle)
    return counts(high)


def _batches(sizes: np.ndarray, budget: int) -> list[tuple[int, int]]:
    """Consecutive (start, end) ranges whose sizes sum to about budget (at least one item)."""
    ends = np.cumsum(sizes)
    cuts = np.searchsorted(ends, np.arange(budget, ends[-1] if len(ends) else 0, budget),
                           side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [len(sizes)]]))
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def _rank_in_group(groups: np.ndarray) -> np.ndarray:
    """Position of each element inside its run of equal values (groups sorted)."""
    return np.arange(len(groups)) - np.searchsorted(groups, groups)


EXACT_MAX_MOVIES = 5_000     # up to this many movies, every (user, movie) pair is scored
BATCH_ENTRIES = 4_000_000   # scores held at once (per batch of users)


def choose_movies(rng: np.random.Generator, world: World, per_user: np.ndarray):
    """Draw per_user[u] distinct movies for every user u from softmax(bias + user . movie).

    Exact sampling without replacement, in batches of users, with no Python loop over users or
    movies. Small catalogues: Gumbel-top-k over every (user, movie) score. Big ones: that
    would be n_users x n_movies random numbers, so draws go kind first (softmax over kinds,
    weighted by their popularity mass), then a movie of that kind by popularity; the first k
    distinct draws of this with-replacement stream are a sample without replacement.
    Returns (user index, movie index, affinity = user . movie) per chosen pair, by user.
    """
    user_vectors, kind, kind_vectors = world.user_vectors, world.movie_kind, world.kind_vectors
    bias = world.popularity_bias
    exact = len(bias) <= EXACT_MAX_MOVIES
    movie_vectors = kind_vectors[kind] if exact else None
    nothing = np.zeros(0, np.int64)
    parts = [(nothing, nothing)]
    for lo, hi in _batches(np.full(len(per_user), len(bias) if exact else len(kind_vectors)),
                           BATCH_ENTRIES):
        if per_user[lo:hi].max() == 0:
            continue
        if exact:
            parts.append(_gumbel_top_k(rng, np.arange(lo, hi), user_vectors, movie_vectors, bias,
                                       per_user[lo:hi]))
        else:
            parts.append(_two_stage(rng, np.arange(lo, hi), user_vectors, kind, kind_vectors,
                                    bias, per_user[lo:hi]))
    users, movies = (np.concatenate(column) for column in zip(*parts))
    return users, movies, world.affinity(users, movies)


def _gumbel_top_k(rng, users, user_vectors, movie_vectors, bias, per_user):
    most = int(per_user.max())
    uniform = np.maximum(rng.random((len(users), len(bias)), dtype=np.float32), 1e-30)
    scores = user_vectors[users] @ movie_vectors.T + bias.astype(np.float32)
    keys = scores - np.log(-np.log(uniform))
    top = np.argpartition(-keys, most - 1, axis=1)[:, :most]
    top = np.take_along_axis(top, np.argsort(-np.take_along_axis(keys, top, axis=1), axis=1),
                             axis=1)
    keep = np.arange(most) < per_user[:, None]
    rows = np.broadcast_to(np.arange(len(users))[:, None], top.shape)[keep]
    return users[rows], top[keep]


def _row_cdf(log_weights: np.ndarray) -> np.ndarray:
    """Per-row cumulative distribution, offset by the row number (one sorted array overall)."""
    weights = np.exp(log_weights - log_weights.max(axis=-1, keepdims=True))
    cdf = np.cumsum(weights, axis=-1)
    cdf /= cdf[..., -1:]
    return cdf + np.arange(len(cdf))[:, None]


def _two_stage(rng, users, user_vectors, kind, kind_vectors, bias, per_user, rounds: int = 20):
    n_kinds = len(kind_vectors)
    by_kind = np.argsort(kind, kind="stable")
    sizes = np.bincount(kind, minlength=n_kinds)
    mass = np.exp(bias - bias.max())
    kind_mass = np.log(np.bincount(kind, weights=mass, minlength=n_kinds))
    # Within a kind, movies by popularity: one sorted array, kind number + cumulative share.
    share = np.cumsum(mass[by_kind])
    starts = np.cumsum(sizes) - sizes
    share -= np.repeat(np.concatenate([[0.0], share[starts[1:] - 1]]), sizes)
    movie_cdf = share / np.repeat(share[starts + sizes - 1], sizes) + kind[by_kind]
    kind_cdf = _row_cdf(user_vectors[users] @ kind_vectors.T + kind_mass).ravel()

    drawn_user, drawn_movie = [], []
    missing = per_user.copy()
    for round_ in range(rounds):
        # Draw more each round: the users still short are those whose favourites are taken.
        count = np.where(missing > 0, (2 << min(round_, 6)) * missing + 4, 0)
        who = np.repeat(np.arange(len(users)), count)
        if not len(who):
            break
        spot = who + np.minimum(rng.random(len(who)), 1 - 1e-9)
        chosen_kind = np.searchsorted(kind_cdf, spot, side="right") - who * n_kinds
        spot = chosen_kind + np.minimum(rng.random(len(who)), 1 - 1e-9)
        drawn_user.append(who)
        drawn_movie.append(by_kind[np.searchsorted(movie_cdf, spot, side="right")])
        order = np.argsort(np.concatenate(drawn_user), kind="stable")  # by user, in draw order
        user_seq, movie_seq = (np.concatenate(drawn_user)[order],
                               np.concatenate(drawn_movie)[order])
        drawn_user, drawn_movie = [user_seq], [movie_seq]
        _, first = np.unique(user_seq * len(bias) + movie_seq, return_index=True)
        missing = np.maximum(per_user - np.bincount(user_seq[first], minlength=len(users)), 0)
    first.sort()
    first = first[_rank_in_group(user_seq[first]) < per_user[user_seq[first]]]
    return users[user_seq[first]], movie_seq[first]


# --- sessions and events ----------------------------------------------------------------------

def sample_events(rng: np.random.Generator, world: World, users: np.ndarray, movies: np.ndarray,
                  affinity: np.ndarray) -> dict:
    """Watch segments, rating events and recommendation events, with times in ms from the start.

    A watch is one segment of minutes 1..max_minute, or (resumed) two segments 1..k and
    k+1..max_minute hours apart. A rating comes after the last segment; a changed rating a few
    minutes after the first. A recommendation request comes seconds before the first segment.
    """
    params, runtime = world.params, world.runtime
    n = len(users)
    z = (affinity - affinity.mean()) / (affinity.std() or 1.0)
    mean_minutes = params["mean_minutes"] * np.exp(0.4 * z - 0.08)
    max_minute = np.minimum(rng.geometric(np.clip(1.0 / mean_minutes, 1e-3, 1.0)),
                            runtime[movies])

    span = int(params["days"] * 86_400_000)
    start = rng.integers(0, span, size=n)
    resumed = (max_minute >= 2) & (rng.random(n) < params["resume_share"])
    split = np.where(resumed, rng.integers(1, np.maximum(max_minute, 2)), max_minute)
    second_start = start + split * 60_000 + rng.integers(3_600_000, 48 * 3_600_000, size=n)

    seg_user = np.concatenate([users, users[resumed]])
    seg_movie = np.concatenate([movies, movies[resumed]])
    seg_first = np.concatenate([np.ones(n, np.int64), split[resumed] + 1])
    seg_last = np.concatenate([split, max_minute[resumed]])
    seg_start = np.concatenate([start, second_start[resumed]])
    watch_end = np.where(resumed, second_start + (max_minute - split - 1) * 60_000,
                         start + (max_minute - 1) * 60_000)

    rated = rng.random(n) < params["rating_share"]
    rating = np.clip(np.rint(3.5 + 0.9 * z + rng.normal(0.0, 0.7, size=n)), 1, 5).astype(np.int64)
    rerated = rated & (rng.random(n) < params["rerate_share"])
    earlier_rating = (rating - 1 + rng.integers(1, 5, size=n)) % 5 + 1  # always different
    rate_time = watch_end + rng.integers(5_000, 120_000, size=n)
    later_time = rate_time + rng.integers(30_000, 600_000, size=n)
    # A changed rating: first the earlier value, then the final one.
    plain = rated & ~rerated
    rate_idx = np.concatenate([np.flatnonzero(plain), np.flatnonzero(rerated),
                               np.flatnonzero(rerated)])
    rate_value = np.concatenate([rating[plain], earlier_rating[rerated], rating[rerated]])
    rate_ts = np.concatenate([rate_time[plain], rate_time[rerated], later_time[rerated]])

    recommended = rng.random(n) < params["recommendation_share"]
    return {
        "segments": {"ts": seg_start, "user": seg_user, "movie": seg_movie,
                     "first": seg_first, "last": seg_last},
        "rates": {"ts": rate_ts, "user": users[rate_idx], "movie": movies[rate_idx],
                  "rating": rate_value},
        "recommendations": {"ts": start[recommended] - rng.integers(500, 30_000,
                                                                      size=int(recommended.sum())),
                            "user": users[recommended], "movie": movies[recommended]},
        "rated": rated,
    }
