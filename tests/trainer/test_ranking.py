import numpy as np
import pandas as pd
import scipy.sparse as sp

from trainer.features import build_feature_space
from trainer.loaders.frames import empty_users
from trainer.ranking import popularity_biases, top_k


def test_top_k_ranks_by_score_and_excludes_seen_items():
    users = np.array([[1.0], [-1.0]], dtype=np.float32)
    items = np.array([[3.0], [2.0], [1.0], [0.0]], dtype=np.float32)
    biases = np.zeros(4, dtype=np.float32)
    exclude = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float32))
    ranked = top_k(users, items, biases, k=2, exclude=exclude, batch_size=1)
    assert ranked.tolist() == [[1, 2], [3, 2]]


def test_short_catalog_pads_with_minus_one():
    users = np.ones((1, 2), dtype=np.float32)
    items = np.eye(2, dtype=np.float32)
    biases = np.array([0.0, 1.0], dtype=np.float32)
    exclude = sp.csr_matrix(np.array([[1, 0]], dtype=np.float32))
    assert top_k(users, items, biases, k=3, exclude=exclude).tolist() == [[1, -1, -1]]


def test_two_stage_selection_matches_a_full_sort():
    rng = np.random.default_rng(3)
    users = rng.standard_normal((300, 8)).astype(np.float32)
    items = rng.standard_normal((5000, 8)).astype(np.float32)
    biases = rng.standard_normal(5000).astype(np.float32)
    exclude = sp.random(300, 5000, density=0.01, format="csr", random_state=1, dtype=np.float32)
    ranked = top_k(users, items, biases, k=20, exclude=exclude, batch_size=128)
    scores = users @ items.T + biases
    scores[exclude.toarray() > 0] = -np.inf
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(ranked, expected)


def test_popularity_ranks_by_positives_with_a_fixed_tie_break():
    movies = pd.DataFrame({"movie_id": ["a", "b", "c", "d"], "title": "", "year": pd.array([pd.NA] * 4, "Int64"),
                           "genres": ""})
    positives = pd.DataFrame({"user_id": [1, 2, 3, 1, 2, 4, 4], "movie_id": ["c", "c", "c", "b", "b", "d", "e"],
                              "weight": np.float32(1.0)})
    space = build_feature_space(positives, empty_users(), movies)
    biases = popularity_biases(space, positives)
    assert biases.dtype == np.float32 and biases.shape == (space.n_items,)
    ranked = [space.movie_ids[i] for i in top_k(np.zeros((1, 1), np.float32), np.zeros((space.n_items, 1), np.float32),
                                                  biases, k=space.n_items)[0]]
    assert ranked == ["c", "b", "d", "e", "a"]  # 3, 2, then 1 each (d before e: index order), none
    np.testing.assert_allclose(biases[space.item_index(np.array(["c", "a"]))], [np.log1p(3), 0.0], atol=1e-6)
