"""The hidden world behind a synthetic data set: users, movies and what makes a user like a movie.

- movie popularity is long-tailed (Zipf-like);
- every movie has 1-3 genres and a latent vector, shared by a "kind" of about ten movies (which
  differ in popularity); every user has a latent vector;
- a user's genre tastes and part of their latent vector are set by their age bucket, gender and
  occupation, so that demographics say something about a cold-start user.

A user's affinity for a movie is ``user vector . movie vector`` (latent part and genre taste
against genre share); how likely they are to pick it is ``softmax(popularity bias + affinity)``
(see :mod:`trainer.synthetic.samplers`). :class:`World` holds the tables the generator writes
(users.csv, movies.csv) together with that hidden truth, so that anything else that needs the
same users and movies (e.g. a simulator of live users) builds it with :meth:`World.from_seed`
and gets exactly what ``generate()`` wrote for that preset and seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainer.synthetic.arrays import normalized, within_group_index
from trainer.synthetic.titles import make_titles

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

# The generator's independent random streams, in SeedSequence(seed).spawn() order. Never reorder
# or insert one: every data set would change.
STREAMS = ("movies", "users", "choices", "sessions", "lines")


def random_streams(seed: int) -> dict[str, np.random.Generator]:
    """One numpy Generator per name in STREAMS, all derived from `seed`."""
    children = np.random.SeedSequence(seed).spawn(len(STREAMS))
    return {name: np.random.default_rng(child) for name, child in zip(STREAMS, children)}


@dataclass(frozen=True)
class World:
    """Users and movies (the tables written as users.csv and movies.csv; row i is index i
    everywhere below) with their hidden vectors and popularity."""

    params: dict               # the generator parameters it was made with (presets.resolve_params)
    users: pd.DataFrame        # user_id (1..n_users), age, occupation, gender
    user_vectors: np.ndarray   # float32 (n_users, latent_dim + n_genres): [latent | genre taste]
    movies: pd.DataFrame       # movie_id (slug), title, year, genres, tmdb_id, popularity, ...
    movie_kind: np.ndarray     # int (n_movies,): the kind each movie belongs to
    kind_vectors: np.ndarray   # float32 (n_kinds, latent_dim + n_genres): [latent | genre share]
    popularity_bias: np.ndarray  # float (n_movies,): -zipf * log(popularity rank)
    runtime: np.ndarray        # int64 (n_movies,): minutes

    @classmethod
    def create(cls, params: dict, streams: dict[str, np.random.Generator]) -> "World":
        """Draw the world from the "movies" and "users" streams of random_streams()."""
        movies, kind, kind_vectors, bias, runtime = make_movies(streams["movies"], params)
        users, user_vectors = make_users(streams["users"], params)
        return cls(params=params, users=users, user_vectors=user_vectors, movies=movies,
                   movie_kind=kind, kind_vectors=kind_vectors, popularity_bias=bias,
                   runtime=runtime)

    @classmethod
    def from_seed(cls, params: dict, seed: int) -> "World":
        """The world generate() writes for these parameters and seed."""
        return cls.create(params, random_streams(seed))

    @property
    def movie_vectors(self) -> np.ndarray:
        """float32 (n_movies, latent_dim + n_genres): each movie's kind vector."""
        return self.kind_vectors[self.movie_kind]

    def affinity(self, users: np.ndarray, movies: np.ndarray) -> np.ndarray:
        """user . movie per (user index, movie index) pair: how much beyond its popularity."""
        return np.einsum("ij,ij->i", self.user_vectors[users], self.kind_vectors[self.movie_kind[movies]])


def movie_kinds(n_movies: int) -> int:
    """How many kinds of movie there are: about 10 movies per kind, between 40 and 1,000."""
    return int(np.clip(n_movies // 10, min(n_movies, 40), 1_000))


def make_movies(rng: np.random.Generator, params: dict):
    """movies.csv and the hidden truth: per movie its kind, popularity bias and runtime, per kind
    its vector [latent | genre share].

    Movies come in kinds (about ten per kind) that share genres and latent vector and differ in
    popularity; this is what lets a catalogue of 27,000 movies be sampled exactly.
    """
    n, dim = params["n_movies"], params["latent_dim"]
    n_kinds = movie_kinds(n)
    years = np.clip(2023 - np.floor(rng.exponential(16.0, size=n)), 1920, 2023).astype(np.int64)
    titles, slugs = make_titles(rng, years)

    # 1 to 3 genres per kind, drawn without replacement by frequency (Gumbel top-k).
    n_genres = rng.choice([1, 2, 3], size=n_kinds, p=[0.4, 0.4, 0.2])
    keys = np.log(np.array(GENRE_WEIGHTS, float)) + rng.gumbel(size=(n_kinds, len(GENRES)))
    ranked = np.argsort(-keys, axis=1)
    membership = np.zeros((n_kinds, len(GENRES)), dtype=np.float32)
    rows = np.repeat(np.arange(n_kinds), n_genres)
    membership[rows, ranked[rows, within_group_index(n_genres)]] = 1.0
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
            rng.choice(len(LANGUAGES), size=n, p=normalized(LANGUAGE_WEIGHTS))],
    })
    return movies, kind, np.hstack([kind_latent, genre_share]), bias, runtime


def taste_matrix(tastes: list[dict[str, float]]) -> np.ndarray:
    index = {name: i for i, name in enumerate(GENRES)}
    matrix = np.zeros((len(tastes), len(GENRES)))
    for row, taste in enumerate(tastes):
        for genre, value in taste.items():
            matrix[row, index[genre]] = value
    return matrix


def make_users(rng: np.random.Generator, params: dict):
    """users.csv, plus the hidden user matrix [latent | genre taste]."""
    n, dim = params["n_users"], params["latent_dim"]
    bucket = rng.choice(len(AGE_BUCKETS), size=n, p=normalized(AGE_SHARES))
    low = np.array([b[0] for b in AGE_BUCKETS])[bucket]
    high = np.array([b[1] for b in AGE_BUCKETS])[bucket]
    age = rng.integers(low, high + 1)
    female = rng.random(n) < FEMALE_SHARE

    occupation = rng.choice(len(OCCUPATIONS), size=n, p=normalized(OCCUPATION_WEIGHTS))
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

    occupation_taste = taste_matrix([OCCUPATION_TASTES.get(name, {}) for name in OCCUPATIONS])
    occupation_taste += rng.normal(0.0, 0.3, size=occupation_taste.shape)
    taste = (taste_matrix(list(AGE_TASTES))[bucket]
             + taste_matrix([GENDER_TASTES["M"], GENDER_TASTES["F"]])[female.astype(int)]
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
