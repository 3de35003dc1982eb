"""The hidden world on its own: the same users and movies generate() writes, and their truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trainer.synthetic.generate import generate
from trainer.synthetic.presets import resolve_params
from trainer.synthetic.world import GENRES, STREAMS, World, random_streams

SIZES = dict(n_users=40, n_movies=60, interactions=300)


@pytest.fixture(scope="module")
def world():
    return World.from_seed(resolve_params("small", **SIZES), seed=11)


def test_from_seed_is_the_world_generate_writes(world, tmp_path):
    generate("small", tmp_path, seed=11, **SIZES)
    users = pd.read_csv(tmp_path / "users.csv")
    movies = pd.read_csv(tmp_path / "movies.csv", keep_default_na=False)
    pd.testing.assert_frame_equal(world.users, users, check_dtype=False)
    pd.testing.assert_frame_equal(world.movies, movies, check_dtype=False)
    assert (tmp_path / "users.csv").read_text() == world.users.to_csv(index=False, lineterminator="\n")


def test_shapes_and_the_hidden_truth(world):
    n_users, n_movies = len(world.users), len(world.movies)
    dim = world.params["latent_dim"] + len(GENRES)
    assert (n_users, n_movies) == (40, 60)
    assert world.user_vectors.shape == (n_users, dim) and world.movie_vectors.shape == (n_movies, dim)
    assert world.kind_vectors.shape[0] == world.movie_kind.max() + 1 == len(np.unique(world.movie_kind))
    # popularity: -zipf * log(rank) for the ranks 1..n, one per movie
    ranks = np.exp(-world.popularity_bias / world.params["zipf"])
    np.testing.assert_allclose(np.sort(ranks), np.arange(1, n_movies + 1), rtol=1e-9)
    assert world.runtime.min() >= 62 and world.runtime.max() <= 210
    # genre shares of a movie's vector match its genres column
    shares = world.movie_vectors[:, world.params["latent_dim"]:]
    for row, genres in enumerate(world.movies["genres"]):
        assert {GENRES[i] for i in np.flatnonzero(shares[row])} == set(genres.split("|"))
        assert shares[row].sum() == pytest.approx(1.0)


def test_affinity_is_the_dot_product_of_user_and_movie(world):
    users, movies = np.array([0, 5, 39]), np.array([59, 0, 7])
    expected = [world.user_vectors[u] @ world.movie_vectors[m] for u, m in zip(users, movies)]
    np.testing.assert_allclose(world.affinity(users, movies), expected, rtol=1e-5)


def test_streams_are_independent_and_fixed_by_the_seed():
    assert STREAMS == ("movies", "users", "choices", "sessions", "lines")
    one, again, other = random_streams(5), random_streams(5), random_streams(6)
    draws = {name: rng.random(3).tolist() for name, rng in one.items()}
    assert draws == {name: rng.random(3).tolist() for name, rng in again.items()}
    assert len({tuple(d) for d in draws.values()}) == len(STREAMS)
    assert draws["movies"] != other["movies"].random(3).tolist()
