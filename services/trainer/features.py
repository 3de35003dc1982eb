"""The feature space LightFM trains on: index maps for users and movies, and sparse feature matrices.

User features: identity + demographic features (age bucket, gender, occupation; names from
`common.demographics`). Item features: identity + `genre:<name>` + `decade:<1990s>`. The identity
takes a fixed share of each row (`identity_weight`) and the other features split the rest equally;
a cold-start user (no identity) is the mean of their demographic feature embeddings, which is
what the inference replicas compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from common.bundle import DEMOGRAPHIC_SLOTS
from common.demographics import user_feature_names

SLOTS = ("age", "gender", "occupation")  # column order of the demographic codes


@dataclass(frozen=True)
class FeatureSpace:
    user_ids: np.ndarray          # int64 (n_users,), ascending: the users LightFM has identities for
    movie_ids: np.ndarray         # str (n_items,)
    demographic_names: np.ndarray  # str (n_demographic,)
    user_features: sp.csr_matrix  # (n_users, n_users + n_demographic), rows sum to 1
    item_features: sp.csr_matrix  # (n_items, n_item_features), rows sum to 1
    table_user_ids: np.ndarray    # int64 (n_table,), ascending: every user with known attributes
    table_demographics: np.ndarray  # int32 (n_table, 3): indices into demographic_names, -1 missing

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.movie_ids)

    def user_index(self, user_ids: np.ndarray) -> np.ndarray:
        """Row of each user id, -1 for users without an identity."""
        return _lookup(self.user_ids, user_ids)

    def item_index(self, movie_ids) -> np.ndarray:
        index = pd.Index(self.movie_ids)
        return index.get_indexer(np.asarray(movie_ids, dtype=object)).astype(np.int64)

    def demographic_matrix(self, user_ids: np.ndarray) -> sp.csr_matrix:
        """Features without identity (rows sum to 1) for users, in the full user-feature column space."""
        rows = _lookup(self.table_user_ids, np.asarray(user_ids, dtype=np.int64))
        codes = np.full((len(user_ids), DEMOGRAPHIC_SLOTS), -1, dtype=np.int64)
        codes[rows >= 0] = self.table_demographics[rows[rows >= 0]]
        return _rows_from_codes(codes, offset=self.n_users, width=self.n_users + len(self.demographic_names))


def _lookup(sorted_ids: np.ndarray, ids: np.ndarray) -> np.ndarray:
    ids = np.asarray(ids, dtype=np.int64)
    if len(sorted_ids) == 0:
        return np.full(len(ids), -1, dtype=np.int64)
    pos = np.searchsorted(sorted_ids, ids).clip(0, len(sorted_ids) - 1)
    return np.where(sorted_ids[pos] == ids, pos, -1)


def _rows_from_codes(codes: np.ndarray, offset: int, width: int, identity_weight: float | None = None) -> sp.csr_matrix:
    """Sparse feature rows: feature columns `codes + offset` (-1 = absent), plus identity if weighted."""
    n = codes.shape[0]
    present = codes >= 0
    rows = np.repeat(np.arange(n), present.sum(axis=1))
    cols = codes[present].astype(np.int64) + offset
    matrix = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, width))
    if identity_weight is None:
        return _normalize_rows(matrix)
    return _with_identity(_normalize_rows(matrix), identity_weight)


def _with_identity(features: sp.csr_matrix, identity_weight: float) -> sp.csr_matrix:
    """Identity column i for row i with `identity_weight`; the other features share the rest.

    Rows with no other feature get identity 1. LightFM's own Dataset weights every feature equally;
    giving the identity a fixed larger share keeps warm-user quality while the features still
    learn what cold-start users need (measured on MovieLens-100K: README, "Model").
    """
    n = features.shape[0]
    has_features = np.diff(features.indptr) > 0
    identity = sp.csr_matrix(
        (np.where(has_features, identity_weight, 1.0).astype(np.float32), (np.arange(n), np.arange(n))), shape=features.shape
    )
    scaled = sp.diags(np.full(n, 1.0 - identity_weight, dtype=np.float32)) @ features
    return sp.csr_matrix(identity + scaled, dtype=np.float32)


def _normalize_rows(matrix: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(matrix.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / sums).astype(np.float32) @ matrix, dtype=np.float32)


def demographic_codes(users: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(feature names, int32 (n, 3) codes) for a users table (user_id, age, gender, occupation).

    Names are computed once per distinct attribute combination, so a million users cost little.
    """
    attributes = users[["age", "gender", "occupation"]].astype(object)
    combo_of_row, _ = pd.factorize(pd.MultiIndex.from_frame(attributes.astype(str)))
    first_row = pd.Series(np.arange(len(users))).groupby(combo_of_row).first().to_numpy()
    combo_names = [user_feature_names(*attributes.iloc[row].tolist()) for row in first_row]
    vocabulary = sorted({name for names in combo_names for name in names})
    position = {name: i for i, name in enumerate(vocabulary)}
    combo_codes = np.full((len(combo_names), DEMOGRAPHIC_SLOTS), -1, dtype=np.int32)
    for combo, names in enumerate(combo_names):
        for name in names:
            combo_codes[combo, SLOTS.index(name.split(":", 1)[0])] = position[name]
    codes = combo_codes[combo_of_row] if len(users) else np.empty((0, DEMOGRAPHIC_SLOTS), dtype=np.int32)
    return np.array(vocabulary, dtype=str), codes


def decade(year) -> str | None:
    try:
        value = int(year)
    except (TypeError, ValueError):
        return None
    return f"decade:{value // 10 * 10}s" if 1870 <= value <= 2100 else None


def build_feature_space(interactions: pd.DataFrame, users: pd.DataFrame, movies: pd.DataFrame, identity_weight: float = 0.7) -> FeatureSpace:
    """Users with at least one interaction get identities; every catalog or interacted movie is an item."""
    user_ids = np.unique(interactions["user_id"].to_numpy(dtype=np.int64))
    movie_ids = pd.Index(movies["movie_id"].astype(str)).append(pd.Index(interactions["movie_id"].astype(str))).unique()
    movie_ids = np.array(movie_ids, dtype=str)

    table = users.drop_duplicates("user_id").sort_values("user_id")
    table_user_ids = table["user_id"].to_numpy(dtype=np.int64)
    demographic_names, table_codes = demographic_codes(table)

    rows = _lookup(table_user_ids, user_ids)
    codes = np.full((len(user_ids), DEMOGRAPHIC_SLOTS), -1, dtype=np.int64)
    codes[rows >= 0] = table_codes[rows[rows >= 0]]
    user_features = _rows_from_codes(codes, offset=len(user_ids), width=len(user_ids) + len(demographic_names), identity_weight=identity_weight)

    item_features = _item_features(movie_ids, movies, identity_weight)
    return FeatureSpace(user_ids, movie_ids, demographic_names, user_features, item_features, table_user_ids, table_codes)


def _item_features(movie_ids: np.ndarray, movies: pd.DataFrame, identity_weight: float) -> sp.csr_matrix:
    meta = movies.drop_duplicates("movie_id")
    meta = meta.set_index(meta["movie_id"].astype(str)).reindex(movie_ids)
    genre_lists = meta["genres"].fillna("").astype(str).str.split("|")
    decades = meta["year"].map(decade) if "year" in meta else pd.Series([None] * len(meta))
    names_per_item = [
        [f"genre:{g.strip()}" for g in genres if g.strip()] + ([d] if isinstance(d, str) else [])
        for genres, d in zip(genre_lists, decades)
    ]
    vocabulary = sorted({name for names in names_per_item for name in names})
    position = {name: i for i, name in enumerate(vocabulary)}
    width = max((len(names) for names in names_per_item), default=0)
    codes = np.full((len(movie_ids), width), -1, dtype=np.int64)
    for row, names in enumerate(names_per_item):
        codes[row, : len(names)] = [position[name] for name in names]
    return _rows_from_codes(codes, offset=len(movie_ids), width=len(movie_ids) + len(vocabulary), identity_weight=identity_weight)


def interaction_matrix(space: FeatureSpace, frame: pd.DataFrame, weighted: bool = True) -> sp.coo_matrix:
    rows = space.user_index(frame["user_id"].to_numpy())
    cols = space.item_index(frame["movie_id"].to_numpy())
    keep = (rows >= 0) & (cols >= 0)
    data = frame["weight"].to_numpy(dtype=np.float32)[keep] if weighted else np.ones(int(keep.sum()), dtype=np.float32)
    return sp.coo_matrix((data, (rows[keep], cols[keep])), shape=(space.n_users, space.n_items))
