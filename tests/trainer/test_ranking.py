import numpy as np
import scipy.sparse as sp

from trainer.ranking import top_k


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
