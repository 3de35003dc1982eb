"""Ranked movie lists from a ModelBundle: the same answers for the inference replicas and the trainer's
`recommend` command.

- known user: the precomputed list (seen items already excluded) — a lookup;
- user with demographic features: mean of their feature vectors, scored against every item
  (cached per feature combination, of which there are a few hundred);
- nobody else: the popularity ranking.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from common.bundle import TOP_K, ModelBundle
from common.demographics import user_feature_names
from common.topk import BLOCK, best_unordered

CACHE_LIMIT = 4096


class Recommender:
    def __init__(self, bundle: ModelBundle, k: int = TOP_K):
        self.bundle = bundle
        self.k = min(k, bundle.n_items)
        self.movie_ids: list[str] = bundle.movie_ids.tolist()
        self._feature_index = {name: i for i, name in enumerate(bundle.feature_names.tolist())}
        self._popular = [int(i) for i in bundle.popular[: self.k]]
        self._by_features: dict[tuple[int, ...], list[int]] = {}

    # -- who is this user -------------------------------------------------------------------
    def known_list(self, user_id: int) -> list[int] | None:
        row = _find(self.bundle.known_user_ids, user_id)
        if row < 0:
            return None
        return [i for i in self.bundle.known_topk[row, : self.k].tolist() if i >= 0]

    def table_features(self, user_id: int) -> tuple[int, ...] | None:
        row = _find(self.bundle.table_user_ids, user_id)
        if row < 0:
            return None
        features = tuple(i for i in self.bundle.table_user_features[row].tolist() if i >= 0)
        return features or None

    def features_for(self, age, gender, occupation) -> tuple[int, ...] | None:
        """Feature indices for attributes (e.g. from the user API); unknown values are ignored."""
        names = user_feature_names(age, gender, occupation)
        features = tuple(self._feature_index[name] for name in names if name in self._feature_index)
        return features or None

    def resolve(self, user_id: int, lookup: Callable[[int], Mapping | None] | None = None) -> tuple[list[int], str]:
        """(item indices, how the user was resolved): "known" (precomputed list), "table" (the user
        table's demographics), "user_api" (attributes from `lookup`, e.g. the simulator's user API)
        or "popularity". The one order for the replicas' route and the trainer's CLI; never raises
        for a valid id (a failing `lookup` must return None itself)."""
        indices = self.known_list(user_id)
        if indices is not None:
            return indices, "known"
        features = self.table_features(user_id)
        kind = "table"
        if features is None and lookup is not None:
            attributes = lookup(user_id)
            features = self.features_for(**attributes) if attributes else None
            kind = "user_api"
        if features is None:
            return self.popular(), "popularity"
        return self.for_features(features), kind

    # -- lists ------------------------------------------------------------------------------
    def for_features(self, features: tuple[int, ...]) -> list[int]:
        cached = self._by_features.get(features)
        if cached is None:
            vector = self.bundle.feature_vectors[list(features)].mean(axis=0)
            n_items = self.bundle.n_items
            scores = np.full(-(-n_items // BLOCK) * BLOCK, -np.inf, dtype=np.float32)  # whole blocks
            np.matmul(self.bundle.item_vectors, vector, out=scores[:n_items])
            scores[:n_items] += self.bundle.item_biases
            top = best_unordered(scores, self.k)
            cached = top[np.argsort(-scores[top], kind="stable")].tolist()
            if len(self._by_features) >= CACHE_LIMIT:
                self._by_features.clear()
            self._by_features[features] = cached
        return cached

    def popular(self) -> list[int]:
        return self._popular

    def movie_list(self, indices: list[int]) -> list[str]:
        ids = self.movie_ids
        return [ids[i] for i in indices]


def _find(sorted_ids: np.ndarray, user_id: int) -> int:
    position = int(np.searchsorted(sorted_ids, user_id))
    if position < len(sorted_ids) and int(sorted_ids[position]) == user_id:
        return position
    return -1
