"""Deterministic synthetic data in the simulator's formats: users.csv, movies.csv, events/*.log.

The data has structure a recommender can learn, and that the trainer's evaluation can check:

- movie popularity is long-tailed (Zipf-like),
- every movie has 1-3 genres and a latent vector (shared by a "kind" of about ten movies, which
  differ in popularity), every user a latent vector,
- a user's genre tastes and part of their latent vector are set by their age bucket, gender and
  occupation, so that demographics say something about a cold-start user,
- a user's movies are drawn without replacement, exactly, from
  ``softmax(popularity + user . movie + genre taste . movie genres)``; users have a long-tailed
  number of movies, and some users have none (cold start),
- most watches stop early (geometric number of minutes, longer for movies the user likes);
  about 30% of watched movies get a rating, higher for higher affinity; a few ratings are
  changed later (the log's last rating wins), a few watches are resumed in a second session.

Everything is vectorized (numpy for the sampling, pyarrow string kernels for the log lines), and
the output is byte-identical for a given preset, seed and overrides. Usage::

    python -m trainer.generate default            # -> data/generated/default/
    python -m trainer.generate small --out /tmp/x --seed 7 --set n_users=50
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Sizes per preset; everything else comes from DEFAULTS. Any key can be overridden.
PRESETS: dict[str, dict] = {
    # Unit tests: generates in well under a second.
    "small": {"n_users": 300, "n_movies": 200, "interactions": 10_000, "days": 7},
    # `make up`: about 2.3 million log lines, about 160 MB.
    "default": {"n_users": 6_000, "n_movies": 2_000, "interactions": 200_000, "days": 30},
    # Course scale: about 60 million log lines, about 4.4 GB in 1 GB files.
    "full": {"n_users": 1_000_000, "n_movies": 27_000, "interactions": 5_500_000, "days": 60},
}

DEFAULTS: dict = {
    "latent_dim": 8,            # size of the hidden user/movie vectors
    "latent_scale": 0.8,        # their per-coordinate standard deviation
    "zipf": 1.1,                # popularity bias = -zipf * log(popularity rank)
    "taste_weight": 3.0,        # weight of the (demographic + individual) genre taste
    "taste_noise": 0.35,        # individual genre taste on top of the demographic one
    "demographic_latent_share": 0.5,  # share of the latent vector's variance set by demographics
    "interaction_sigma": 1.0,   # log-normal spread of the number of movies per user
    "cold_share": 0.05,         # users in users.csv without any event (cold start)
    "max_per_user": 1_000,      # and its cap (also at most half the catalogue)
    "mean_minutes": 10.0,       # mean watched minutes (geometric, capped at the runtime)
    "rating_share": 0.3,        # share of watched movies that get a rating line
    "rerate_share": 0.03,       # share of ratings given twice (the later one counts)
    "resume_share": 0.05,       # share of watches split into two sessions
    "recommendation_share": 0.1,  # share of watches preceded by a recommendation request line
    "start": "2023-10-01T00:00:00",
    "max_file_bytes": 1_000_000_000,  # split the log into files of at most this size
    "block_lines": 4_000_000,   # lines built and written per block (bounds memory)
}

GENRES = (
    "Action", "Adventure", "Animation", "Comedy", "Crime", "Documentary", "Drama", "Family",
    "Fantasy", "History", "Horror", "Music", "Mystery", "Romance", "Science Fiction", "Thriller",
    "War", "Western",
)
GENRE_WEIGHTS = (
    9, 5, 3, 12, 6, 3, 16, 4, 3, 2, 5, 2, 3, 7, 4, 7, 2, 1,
)

# Age buckets as in MovieLens-1M (and trainer features: common.demographics.AGE_EDGES), with
# the share of users in each and the ages drawn inside it.
AGE_BUCKETS = ((13, 17), (18, 24), (25, 34), (35, 44), (45, 49), (50, 55), (56, 75))
AGE_SHARES = (0.037, 0.183, 0.347, 0.197, 0.091, 0.082, 0.063)
FEMALE_SHARE = 0.28

# MovieLens-1M occupations (the simulator uses these names) and their shares there.
OCCUPATIONS = (
    "other or not specified", "academic/educator", "artist", "clerical/admin",
    "college/grad student", "customer service", "doctor/health care", "executive/managerial",
    "farmer", "homemaker", "K-12 student", "lawyer", "programmer", "retired", "sales/marketing",
    "scientist", "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed",
    "writer",
)
OCCUPATION_WEIGHTS = (
    711, 528, 267, 173, 759, 112, 236, 679, 17, 92, 195, 129, 388, 142, 302, 144, 241, 502, 70,
    72, 281,
)

# Demographic genre tastes (log-affinity), on top of a random part per occupation.
AGE_TASTES = (
    {"Animation": 1.5, "Family": 1.2, "Fantasy": 0.8, "Comedy": 0.5, "Adventure": 0.5,
     "History": -1.0, "War": -1.0, "Documentary": -0.8, "Western": -0.8, "Drama": -0.5},
    {"Horror": 1.0, "Comedy": 0.6, "Action": 0.6, "Science Fiction": 0.4, "Animation": 0.3,
     "Western": -0.6, "History": -0.6},
    {"Action": 0.4, "Science Fiction": 0.5, "Thriller": 0.4, "Crime": 0.3},
    {"Crime": 0.4, "Drama": 0.4, "Thriller": 0.4, "Mystery": 0.3},
    {"Drama": 0.6, "Mystery": 0.4, "History": 0.4},
    {"Drama": 0.7, "History": 0.7, "War": 0.5, "Western": 0.4, "Horror": -0.6},
    {"History": 1.0, "War": 1.0, "Western": 1.0, "Drama": 0.8, "Documentary": 0.6,
     "Horror": -1.0, "Animation": -0.8, "Science Fiction": -0.5},
)
GENDER_TASTES = {
    "M": {"Action": 0.6, "War": 0.5, "Science Fiction": 0.5, "Western": 0.3, "Horror": 0.2,
          "Romance": -0.6, "Music": -0.3},
    "F": {"Romance": 1.0, "Drama": 0.5, "Music": 0.5, "Family": 0.4, "Comedy": 0.3,
          "War": -0.7, "Western": -0.5, "Action": -0.4, "Horror": -0.2},
}
OCCUPATION_TASTES = {
    "K-12 student": {"Animation": 1.0, "Family": 0.8},
    "college/grad student": {"Comedy": 0.4, "Horror": 0.4, "Science Fiction": 0.4},
    "programmer": {"Science Fiction": 1.0, "Fantasy": 0.5, "Animation": 0.3},
    "scientist": {"Science Fiction": 0.8, "Documentary": 0.6},
    "academic/educator": {"Documentary": 0.8, "History": 0.6, "Drama": 0.3},
    "artist": {"Music": 0.8, "Drama": 0.4, "Documentary": 0.4, "Action": -0.4},
    "writer": {"Drama": 0.6, "Mystery": 0.5, "Romance": 0.3},
    "homemaker": {"Family": 0.8, "Romance": 0.6},
    "retired": {"Western": 0.6, "History": 0.5, "War": 0.4},
    "doctor/health care": {"Drama": 0.4, "Mystery": 0.3},
    "lawyer": {"Crime": 0.8, "Thriller": 0.4},
    "executive/managerial": {"Thriller": 0.3, "Crime": 0.3},
    "tradesman/craftsman": {"Action": 0.5, "Western": 0.5},
    "technician/engineer": {"Science Fiction": 0.6, "Action": 0.3},
    "farmer": {"Western": 0.8, "Family": 0.3},
}

LANGUAGES = ("en", "fr", "es", "ja", "de", "it", "ko", "hi", "zh", "sv")
LANGUAGE_WEIGHTS = (75, 5, 4, 4, 3, 3, 2, 2, 1, 1)

RECOMMENDATION_SERVER = "17645-team07.lti.cs.cmu.edu:8082"
RECOMMENDATION_LENGTH = 20

_ADJECTIVES = """
dark silent last lost hidden broken golden crimson frozen burning wild quiet secret final
endless distant forgotten savage gentle bitter sweet electric iron silver scarlet hollow
midnight eternal fallen rising wicked lonely brave strange little big long deep cold hot
blue black white red green grey royal sacred cursed lucky crazy perfect dangerous deadly
fatal invisible mysterious northern southern eastern western ancient modern urban rural
happy sad restless reckless fearless shattered twisted savage velvet neon atomic cosmic
""".split()
_NOUNS = """
road river night city heart storm shadow dream kingdom empire garden house mountain ocean
island desert forest valley star moon sun sky fire ice rain wind thunder stone glass
mirror door window bridge tower castle prison station harbor highway street alley
soldier detective stranger lover thief hunter ghost angel devil king queen prince princess
knight doctor teacher child mother father brother sister daughter son family friend
enemy witness killer driver pilot captain sailor gambler dancer singer writer painter
promise secret lie truth game war peace journey escape return revenge mission heist
memory summer winter autumn spring morning evening hour day year century legend story
song letter diary map key crown sword gun machine engine robot planet galaxy signal code
""".split()
_NAMES = """
jack mary charlie lucy harry emma max sophie leo alice oscar grace victor rose frank
hannah sam julia nick clara
""".split()
_PLACES = """
paris tokyo berlin rome london chicago brooklyn texas alaska cairo havana vienna
casablanca memphis montana vegas
""".split()


def resolve_params(preset: str, **overrides) -> dict:
    """The full parameter set for a preset, with overrides applied (unknown names are refused)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    params = {**DEFAULTS, **PRESETS[preset]}
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise TypeError(f"unknown generator parameter(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(params))}")
    params.update(overrides)
    if params["n_users"] < 1 or params["n_movies"] < 1:
        raise ValueError("n_users and n_movies must be at least 1")
    return params


def generate(preset: str, out_dir: Path, seed: int = 42, *,
             progress: Callable[[str], None] | None = None, **overrides) -> dict:
    """Write users.csv, movies.csv and events/events-NNNN.log under out_dir; return a summary.

    The summary has the counts (users, movies, interactions = distinct user-movie watches,
    ratings = distinct rated pairs, line counts per kind), the files and bytes written, and the
    seconds taken. The same preset, seed and overrides always give byte-identical files.
    """
    started = time.perf_counter()
    params = resolve_params(preset, **overrides)
    say = progress or (lambda message: None)
    out_dir = Path(out_dir)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(5)]
    rng_movies, rng_users, rng_choices, rng_sessions, rng_lines = streams

    movies, kind, kind_vectors, bias, runtime = _make_movies(rng_movies, params)
    users, user_vectors = _make_users(rng_users, params)
    say(f"{len(users):,} users, {len(movies):,} movies; choosing what each user watches")
    per_user = _interactions_per_user(rng_choices, params)
    chosen_users, chosen_movies, affinity = _choose_movies(
        rng_choices, user_vectors, kind, kind_vectors, bias, per_user)
    say(f"{len(chosen_users):,} interactions; writing the event log")
    events = _make_events(rng_sessions, chosen_users, chosen_movies, affinity, runtime, params)

    out_dir.mkdir(parents=True, exist_ok=True)
    users.to_csv(out_dir / "users.csv", index=False, lineterminator="\n")
    movies.to_csv(out_dir / "movies.csv", index=False, lineterminator="\n")
    log = _write_log(rng_lines, events, movies["movie_id"].to_numpy(), bias, params,
                     out_dir / "events", say)

    summary = {
        "preset": preset,
        "seed": seed,
        "params": params,
        "users": len(users),
        "movies": len(movies),
        "interactions": len(chosen_users),
        "ratings": int(events["rated"].sum()),
        **log,
    }
    (out_dir / "manifest.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["bytes"] = log["log_bytes"] + sum(
        (out_dir / name).stat().st_size for name in ("users.csv", "movies.csv"))
    summary["seconds"] = round(time.perf_counter() - started, 3)
    say(f"done in {summary['seconds']:.1f} s: {summary['lines']:,} log lines, "
        f"{summary['bytes'] / 1e6:,.1f} MB in {out_dir}")
    return summary


# --- the hidden world: movies and users -------------------------------------------------------

def slugify(title: str, year: int) -> str:
    """The simulator's movie id: lowercase title words joined by '+', ending in the year."""
    words = title.lower().replace(":", "").replace(",", "_").split()
    return "+".join([*words, str(year)])


def _titles(rng: np.random.Generator, years: np.ndarray) -> tuple[list[str], list[str]]:
    """Unique (title, slug) pairs drawn from word lists; a collision is drawn again."""
    adjectives, nouns, names, places = _ADJECTIVES, _NOUNS, _NAMES, _PLACES
    patterns = (
        lambda a, n, m, x, p: f"The {a.title()} {n.title()}",
        lambda a, n, m, x, p: f"{a.title()} {n.title()}",
        lambda a, n, m, x, p: f"{n.title()} of the {m.title()}",
        lambda a, n, m, x, p: f"The {n.title()}",
        lambda a, n, m, x, p: f"{x.title()}'s {n.title()}",
        lambda a, n, m, x, p: f"{n.title()} in {p.title()}",
        lambda a, n, m, x, p: f"{a.title()} {n.title()}: The {m.title()}",
        lambda a, n, m, x, p: f"{m.title()} Makers, Inc.",
        lambda a, n, m, x, p: f"The {a.title()} {n.title()} {int(rng.integers(2, 5))}",
        lambda a, n, m, x, p: f"{a.title()} {m.title()} in {p.title()}",
    )
    pattern_weights = (14, 14, 10, 5, 6, 6, 6, 2, 3, 4)
    n = len(years)
    titles: list[str | None] = [None] * n
    slugs: list[str | None] = [None] * n
    taken: set[str] = set()
    todo = np.arange(n)
    while len(todo):
        pattern = rng.choice(len(patterns), size=len(todo), p=_normalized(pattern_weights))
        words = [rng.integers(len(pool), size=len(todo))
                 for pool in (adjectives, nouns, nouns, names, places)]
        retry = []
        for j, i in enumerate(todo):
            title = patterns[pattern[j]](adjectives[words[0][j]], nouns[words[1][j]],
                                      nouns[words[2][j]], names[words[3][j]], places[words[4][j]])
            slug = slugify(title, int(years[i]))
            if slug in taken:
                retry.append(i)
                continue
            taken.add(slug)
            titles[i], slugs[i] = title, slug
        todo = np.array(retry, dtype=np.int64)
    return titles, slugs


def _movie_kinds(n_movies: int) -> int:
    """How many kinds of movie there are: about 10 movies per kind, between 40 and 1,000."""
    return int(np.clip(n_movies // 10, min(n_movies, 40), 1_000))


def _make_movies(rng: np.random.Generator, params: dict):
    """movies.csv and the hidden truth: per movie its kind, popularity bias and runtime, per kind
    its vector [latent | genre share].

    Movies come in kinds (about ten per kind) that share genres and latent vector and differ in
    popularity; this is what lets a catalogue of 27,000 movies be sampled exactly.
    """
    n, dim = params["n_movies"], params["latent_dim"]
    n_kinds = _movie_kinds(n)
    years = np.clip(2023 - np.floor(rng.exponential(16.0, size=n)), 1920, 2023).astype(np.int64)
    titles, slugs = _titles(rng, years)

    # 1 to 3 genres per kind, drawn without replacement by frequency (Gumbel top-k).
    n_genres = rng.choice([1, 2, 3], size=n_kinds, p=[0.4, 0.4, 0.2])
    keys = np.log(np.array(GENRE_WEIGHTS, float)) + rng.gumbel(size=(n_kinds, len(GENRES)))
    ranked = np.argsort(-keys, axis=1)
    membership = np.zeros((n_kinds, len(GENRES)), dtype=np.float32)
    rows = np.repeat(np.arange(n_kinds), n_genres)
    membership[rows, ranked[rows, _within_group_index(n_genres)]] = 1.0
    genre_share = membership / membership.sum(axis=1, keepdims=True)
    genre_names = np.array(GENRES, dtype=object)
    kind_genres = np.array(["|".join(genre_names[membership[t] > 0]) for t in range(n_kinds)],
                           dtype=object)
    kind_latent = rng.normal(0.0, params["latent_scale"], size=(n_kinds, dim)).astype(np.float32)
    kind = rng.permutation(np.arange(n) % n_kinds)  # every kind has movies

    rank = rng.permutation(n) + 1
    bias = -params["zipf"] * np.log(rank)
    runtime = np.clip(np.rint(rng.normal(108, 20, size=n)), 62, 210).astype(np.int64)

    popularity = np.round(np.exp(bias) * 400.0 + rng.gamma(2.0, 0.5, size=n), 3)
    quality = kind_latent.mean(axis=1)[kind] * 4 + rng.normal(0, 0.6, size=n)
    movies = pd.DataFrame({
        "movie_id": slugs,
        "title": titles,
        "year": years,
        "genres": kind_genres[kind],
        "tmdb_id": rng.choice(900_000, size=n, replace=False) + 2,
        "popularity": popularity,
        "vote_average": np.round(np.clip(6.3 + quality, 1.0, 9.5), 1),
        "vote_count": np.rint(popularity * rng.uniform(5, 40, size=n)).astype(np.int64),
        "runtime": runtime,
        "original_language": np.array(LANGUAGES)[
            rng.choice(len(LANGUAGES), size=n, p=_normalized(LANGUAGE_WEIGHTS))],
    })
    return movies, kind, np.hstack([kind_latent, genre_share]), bias, runtime


def _within_group_index(sizes: np.ndarray) -> np.ndarray:
    """[2, 3] -> [0, 1, 0, 1, 2]: each element's position inside its group."""
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    return np.arange(int(sizes.sum())) - starts


def _normalized(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    return weights / weights.sum()


def _taste_matrix(tastes: list[dict[str, float]]) -> np.ndarray:
    index = {name: i for i, name in enumerate(GENRES)}
    matrix = np.zeros((len(tastes), len(GENRES)))
    for row, taste in enumerate(tastes):
        for genre, value in taste.items():
            matrix[row, index[genre]] = value
    return matrix


def _make_users(rng: np.random.Generator, params: dict):
    """users.csv, plus the hidden user matrix [latent | genre taste]."""
    n, dim = params["n_users"], params["latent_dim"]
    bucket = rng.choice(len(AGE_BUCKETS), size=n, p=_normalized(AGE_SHARES))
    low = np.array([b[0] for b in AGE_BUCKETS])[bucket]
    high = np.array([b[1] for b in AGE_BUCKETS])[bucket]
    age = rng.integers(low, high + 1)
    female = rng.random(n) < FEMALE_SHARE

    occupation = rng.choice(len(OCCUPATIONS), size=n, p=_normalized(OCCUPATION_WEIGHTS))
    # Occupations follow age: children go to school, most over 60 are retired.
    override = rng.random(n)
    occupation = np.where((age < 18) & (override < 0.75), OCCUPATIONS.index("K-12 student"),
                          occupation)
    occupation = np.where((age >= 18) & (age < 25) & (override < 0.45),
                          OCCUPATIONS.index("college/grad student"), occupation)
    occupation = np.where((age >= 60) & (override < 0.5), OCCUPATIONS.index("retired"),
                          occupation)
    occupation = np.where((age < 18) & (occupation == OCCUPATIONS.index("retired")),
                          OCCUPATIONS.index("K-12 student"), occupation)

    occupation_taste = _taste_matrix([OCCUPATION_TASTES.get(name, {}) for name in OCCUPATIONS])
    occupation_taste += rng.normal(0.0, 0.3, size=occupation_taste.shape)
    taste = (_taste_matrix(list(AGE_TASTES))[bucket]
             + _taste_matrix([GENDER_TASTES["M"], GENDER_TASTES["F"]])[female.astype(int)]
             + occupation_taste[occupation]
             + rng.normal(0.0, params["taste_noise"], size=(n, len(GENRES))))
    taste *= params["taste_weight"]
    # The latent vector is partly shared with people of the same age bucket, gender and
    # occupation, so that demographics also say something beyond genres.
    scale, shared = params["latent_scale"], params["demographic_latent_share"]
    demographic = (rng.normal(0.0, scale, size=(len(AGE_BUCKETS), dim))[bucket]
                   + rng.normal(0.0, scale, size=(2, dim))[female.astype(int)]
                   + rng.normal(0.0, scale, size=(len(OCCUPATIONS), dim))[occupation]) / np.sqrt(3)
    latent = (np.sqrt(shared) * demographic
              + np.sqrt(1 - shared) * rng.normal(0.0, scale, size=(n, dim)))

    users = pd.DataFrame({
        "user_id": np.arange(1, n + 1),
        "age": age,
        "occupation": np.array(OCCUPATIONS)[occupation],
        "gender": np.where(female, "F", "M"),
    })
    return users, np.hstack([latent, taste]).astype(np.float32)


# --- what each user watches -------------------------------------------------------------------

def _interactions_per_user(rng: np.random.Generator, params: dict) -> np.ndarray:
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


def _choose_movies(rng: np.random.Generator, user_vectors: np.ndarray, kind: np.ndarray,
                   kind_vectors: np.ndarray, bias: np.ndarray, per_user: np.ndarray):
    """Draw per_user[u] distinct movies for every user u from softmax(bias + user . movie).

    Exact sampling without replacement, in batches of users, with no Python loop over users or
    movies. Small catalogues: Gumbel-top-k over every (user, movie) score. Big ones: that
    would be n_users x n_movies random numbers, so draws go kind first (softmax over kinds,
    weighted by their popularity mass), then a movie of that kind by popularity; the first k
    distinct draws of this with-replacement stream are a sample without replacement.
    Returns (user index, movie index, affinity = user . movie) per chosen pair, by user.
    """
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
    affinity = np.einsum("ij,ij->i", user_vectors[users], kind_vectors[kind[movies]])
    return users, movies, affinity


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

def _make_events(rng: np.random.Generator, users, movies, affinity, runtime, params) -> dict:
    """Watch segments, rating events and recommendation events, with times in ms from the start.

    A watch is one segment of minutes 1..max_minute, or (resumed) two segments 1..k and
    k+1..max_minute hours apart. A rating comes after the last segment; a changed rating a few
    minutes after the first. A recommendation request comes seconds before the first segment.
    """
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


# --- writing the log --------------------------------------------------------------------------

def _take(columns: dict, index) -> dict:
    return {key: value[index] for key, value in columns.items()}


def _concat(*parts: dict) -> dict:
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


def _expand(segments: dict) -> dict:
    """One row per watched minute: (ts, user, movie, minute)."""
    lengths = segments["last"] - segments["first"] + 1
    offset = _within_group_index(lengths)
    owner = np.repeat(np.arange(len(lengths)), lengths)
    return {"ts": segments["ts"][owner] + offset * 60_000, "user": segments["user"][owner],
            "movie": segments["movie"][owner], "minute": segments["first"][owner] + offset}


class _LogWriter:
    """Appends blocks of lines to events-0001.log, events-0002.log, ... of at most max_bytes."""

    def __init__(self, directory: Path, max_bytes: int):
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("events-*.log"):
            old.unlink()
        self.directory, self.max_bytes = directory, max_bytes
        self.files: list[str] = []
        self.bytes = 0
        self._file = None
        self._size = 0
        self._open()

    def _open(self):
        if self._file is not None:
            self._file.close()
        name = f"events-{len(self.files) + 1:04d}.log"
        self.files.append(name)
        self._file = open(self.directory / name, "wb")
        self._size = 0

    def write(self, lines: pa.Array) -> None:
        """Write a string array whose elements each end in a newline, splitting between lines."""
        if not len(lines):
            return
        offsets = np.frombuffer(lines.buffers()[1], np.int32)[lines.offset:
                                                               lines.offset + len(lines) + 1]
        data = memoryview(lines.buffers()[2])
        pos = 0
        while pos < len(lines):
            room = self.max_bytes - self._size
            end = int(np.searchsorted(offsets, offsets[pos] + room, side="right")) - 1
            if end <= pos:
                if self._size:
                    self._open()
                    continue
                end = pos + 1  # a single line longer than the limit: it gets a file of its own
            self._file.write(data[offsets[pos]:offsets[end]])
            written = int(offsets[end] - offsets[pos])
            self._size += written
            self.bytes += written
            pos = end
            if pos < len(lines):
                self._open()

    def close(self):
        self._file.close()


def _write_log(rng: np.random.Generator, events: dict, slugs: np.ndarray, bias: np.ndarray,
               params: dict, directory: Path, say: Callable[[str], None]) -> dict:
    """Write all events in time order, in blocks of about block_lines lines.

    Blocks cut the timeline at segment starts; a segment's minutes that run past its block's
    end are carried into the next block, so line times never decrease.
    """
    t0 = np.datetime64(params["start"], "ms").astype(np.int64)
    segments = events["segments"]
    order = np.argsort(segments["ts"], kind="stable")
    segments = _take(segments, order)
    lengths = segments["last"] - segments["first"] + 1
    total_watch = int(lengths.sum())
    cut_at = np.searchsorted(np.cumsum(lengths),
                             np.arange(params["block_lines"], total_watch, params["block_lines"]))
    cut_times = np.unique(segments["ts"][np.minimum(cut_at, len(order) - 1)]) if len(order) else []
    edges = np.concatenate([[np.iinfo(np.int64).min], cut_times, [np.iinfo(np.int64).max]])

    rates = events["rates"]
    recs = events["recommendations"]
    formatter = _LineFormatter(slugs, bias, rng, t0)
    writer = _LogWriter(directory, params["max_file_bytes"])
    counts = {"watch_lines": 0, "rate_lines": 0, "recommendation_lines": 0}
    pending = _expand(_take(segments, slice(0, 0)))
    for lo, hi in zip(edges[:-1], edges[1:]):
        starting = slice(*np.searchsorted(segments["ts"], [lo, hi]))
        watches = _concat(pending, _expand(_take(segments, starting)))
        now = watches["ts"] < hi
        pending = _take(watches, ~now)
        watches = _take(watches, now)
        block_rates = _take(rates, (rates["ts"] >= lo) & (rates["ts"] < hi))
        block_recs = _take(recs, (recs["ts"] >= lo) & (recs["ts"] < hi))
        writer.write(formatter.block(watches, block_rates, block_recs))
        counts["watch_lines"] += len(watches["ts"])
        counts["rate_lines"] += len(block_rates["ts"])
        counts["recommendation_lines"] += len(block_recs["ts"])
        if hi != edges[-1]:
            say(f"{writer.files[-1]}: {counts['watch_lines']:,} of {total_watch:,} watch lines")
    writer.close()
    counts["lines"] = sum(counts.values())
    return {**counts, "files": [f"events/{name}" for name in writer.files],
            "log_bytes": writer.bytes}


class _LineFormatter:
    """Turns event arrays into the exact Kafka line text, with pyarrow string kernels."""

    def __init__(self, slugs: np.ndarray, bias: np.ndarray, rng: np.random.Generator, t0: int):
        self.slugs = pa.array(slugs, pa.string())
        self.rng = rng
        self.t0 = t0
        self.numbers = pa.array([str(i) for i in range(1_000)], pa.string())
        self.millis = pa.array([""] + [f".{i:03d}" for i in range(1_000)], pa.string())
        self.by_popularity = np.argsort(-bias, kind="stable")

    def block(self, watches: dict, rates: dict, recs: dict) -> pa.Array:
        ts = np.concatenate([watches["ts"], rates["ts"], recs["ts"]])
        order = np.argsort(ts, kind="stable")
        ts = ts[order]
        users = np.concatenate([watches["user"], rates["user"], recs["user"]])[order] + 1
        millis = np.concatenate([np.zeros(len(watches["ts"]) + len(rates["ts"]), np.int64),
                                 recs["ts"] % 1000 + 1])[order]
        bodies = pa.concat_arrays([self._watch_bodies(watches), self._rate_bodies(rates),
                                   self._recommendation_bodies(recs)]).take(order)
        return pc.binary_join_element_wise(
            self._times(ts), self.millis.take(millis), ",",
            pc.cast(pa.array(users), pa.string()), ",", bodies, "")

    def _times(self, ts: np.ndarray) -> pa.Array:
        """'2023-10-01T12:34:56' per (sorted) ms time, formatting each distinct second once."""
        seconds = (ts + self.t0) // 1000
        new = np.concatenate([[True], seconds[1:] != seconds[:-1]])[:len(ts)]
        distinct = pa.array(seconds[new], pa.timestamp("s"))
        text = pc.strftime(distinct, format="%Y-%m-%dT%H:%M:%S")
        return text.take(pa.array(np.cumsum(new) - 1))

    def _watch_bodies(self, watches: dict) -> pa.Array:
        return pc.binary_join_element_wise(
            "GET /data/m/", self.slugs.take(watches["movie"]), "/",
            self.numbers.take(watches["minute"]), ".mpg\n", "")

    def _rate_bodies(self, rates: dict) -> pa.Array:
        return pc.binary_join_element_wise(
            "GET /rate/", self.slugs.take(rates["movie"]), "=",
            self.numbers.take(rates["rating"]), "\n", "")

    def _recommendation_bodies(self, recs: dict) -> pa.Array:
        """A popular window of the catalogue, with the watched movie in it half of the time."""
        n = len(recs["ts"])
        length = min(RECOMMENDATION_LENGTH, len(self.slugs))
        start = self.rng.integers(0, max(1, min(50, len(self.slugs) - length + 1)), size=n)
        result = self.by_popularity[start[:, None] + np.arange(length)]
        listed = (result == recs["movie"][:, None]).any(axis=1)
        insert = ~listed & (self.rng.random(n) < 0.5)
        position = self.rng.integers(0, length, size=n)
        result[insert, position[insert]] = recs["movie"][insert]
        columns = [self.slugs.take(result[:, i]) for i in range(length)]
        latency = self.numbers.take(self.rng.integers(40, 700, size=n))
        return pc.binary_join_element_wise(
            f"recommendation request {RECOMMENDATION_SERVER}, status 200, result: ",
            pc.binary_join_element_wise(*columns, ", ") if n else pa.array([], pa.string()),
            ", ", latency, " ms\n", "")


# --- command line -----------------------------------------------------------------------------

def _parse_value(text: str):
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trainer.generate",
        description="Write synthetic users.csv, movies.csv and events/*.log in the simulator's "
                    "formats.")
    parser.add_argument("preset", nargs="?", default="default", choices=sorted(PRESETS))
    parser.add_argument("--out", type=Path, help="output directory "
                        "(default: data/generated/<preset>)")
    parser.add_argument("--seed", type=int, default=42)
    names = ", ".join(sorted({**DEFAULTS, **PRESETS["small"]}))
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help=f"override a parameter ({names})")
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set expects NAME=VALUE, got {item!r}")
        overrides[name.strip()] = _parse_value(value.strip())
    out = args.out or Path("data/generated") / args.preset
    try:
        summary = generate(args.preset, out, args.seed,
                           progress=lambda message: print(message, file=sys.stderr, flush=True),
                           **overrides)
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    print(json.dumps({key: value for key, value in summary.items() if key != "params"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
