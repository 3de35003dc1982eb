"""Small, deterministic model bundles for tests and benchmarks (the trainer makes real ones)."""

from __future__ import annotations

import numpy as np

from common.bundle import TOP_K, ModelBundle
from common.demographics import user_feature_names

OCCUPATIONS = ("college/grad student", "executive/managerial", "other or not specified")


def synthetic_users(n_users: int, first_id: int = 1):
    """(user ids, age, gender, occupation) tuples with known attributes."""
    return [(uid, 18 + uid % 50, "MF"[uid % 2], OCCUPATIONS[uid % 3]) for uid in range(first_id, first_id + n_users)]


def make_bundle(n_items: int = 300, n_known: int = 200, n_table_only: int = 50, dim: int = 8, seed: int = 0) -> ModelBundle:
    """Known users 1..n_known (with seen items excluded from their lists), table-only users after them."""
    rng = np.random.default_rng(seed)
    movie_ids = np.array([f"movie+{i}+{1950 + i % 70}" for i in range(n_items)], dtype=str)
    item_vectors = rng.standard_normal((n_items, dim)).astype(np.float32)
    item_biases = np.linspace(1.0, 0.0, n_items, dtype=np.float32)
    users = synthetic_users(n_known + n_table_only)
    names = sorted({name for _, age, gender, occ in users for name in user_feature_names(age, gender, occ)})
    position = {name: i for i, name in enumerate(names)}
    table_features = np.array(
        [[position[n] for n in user_feature_names(age, gender, occ)] for _, age, gender, occ in users], dtype=np.int32
    )
    user_vectors = rng.standard_normal((n_known, dim)).astype(np.float32)
    scores = user_vectors @ item_vectors.T + item_biases
    seen = seen_items(n_known, n_items, seed)
    for row, items in enumerate(seen):
        scores[row, items] = -np.inf
    known_topk = np.argsort(-scores, axis=1)[:, :TOP_K].astype(np.int32)
    return ModelBundle(
        movie_ids=movie_ids,
        item_vectors=item_vectors,
        item_biases=item_biases,
        popular=np.arange(min(100, n_items), dtype=np.int32),
        known_user_ids=np.arange(1, n_known + 1, dtype=np.int64),
        known_topk=known_topk,
        feature_names=np.array(names, dtype=str),
        feature_vectors=rng.standard_normal((len(names), dim)).astype(np.float32),
        table_user_ids=np.array([u[0] for u in users], dtype=np.int64),
        table_user_features=table_features,
    )


def seen_items(n_known: int, n_items: int, seed: int = 0) -> list[np.ndarray]:
    """Items each known user has watched: a few popular ones, so exclusion is visible."""
    rng = np.random.default_rng(seed + 1)
    return [rng.choice(30, size=5, replace=False) for _ in range(n_known)]
