"""The arrays that make one servable model version, and the checks a replica runs before using them.

The trainer builds a :class:`ModelBundle` and publishes ``bundle.to_arrays()`` through the weight
cache; a replica rebuilds it with :meth:`ModelBundle.from_arrays`, which refuses anything whose
shapes, dtypes or indices do not fit together.

Scores are ``item_vectors @ user_vector + item_biases``. Known users are answered from
``known_topk`` (ranked item indices, seen items already excluded, ``-1`` pads short lists). A
cold-start user's vector is the mean of the ``feature_vectors`` of the demographic features they
have (LightFM's row-normalised features); ``table_user_features`` holds those feature indices for
every user whose attributes were known at training time.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

TOP_K = 20
DEMOGRAPHIC_SLOTS = 3  # age bucket, gender, occupation


class BundleError(ValueError):
    """The arrays do not form a valid model."""


@dataclass(frozen=True)
class ModelBundle:
    movie_ids: np.ndarray            # str (n_items,)
    item_vectors: np.ndarray         # float32 (n_items, dim)
    item_biases: np.ndarray          # float32 (n_items,)
    popular: np.ndarray              # int32 (n_popular,), item indices, most popular first
    known_user_ids: np.ndarray       # int64 (n_known,), ascending
    known_topk: np.ndarray           # int32 (n_known, k<=TOP_K), item indices or -1
    feature_names: np.ndarray        # str (n_features,)
    feature_vectors: np.ndarray      # float32 (n_features, dim)
    table_user_ids: np.ndarray       # int64 (n_table,), ascending
    table_user_features: np.ndarray  # int32 (n_table, DEMOGRAPHIC_SLOTS), feature indices or -1

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ModelBundle":
        names = {f.name for f in fields(cls)}
        missing = sorted(names - arrays.keys())
        if missing:
            raise BundleError(f"model is missing arrays: {', '.join(missing)}")
        bundle = cls(**{name: arrays[name] for name in names})
        bundle.validate()
        return bundle

    @property
    def n_items(self) -> int:
        return int(self.movie_ids.shape[0])

    @property
    def dim(self) -> int:
        return int(self.item_vectors.shape[1])

    def validate(self) -> None:
        n_items = self.n_items
        _expect(n_items > 0, "movie_ids is empty")
        _expect(self.movie_ids.dtype.kind == "U", "movie_ids must be text")
        _expect(len(set(self.movie_ids.tolist())) == n_items, "movie_ids has duplicates")
        _expect(all(self.movie_ids.tolist()), "movie_ids has an empty id")
        _expect_array(self, "item_vectors", np.float32, (n_items, None))
        dim = self.dim
        _expect_array(self, "item_biases", np.float32, (n_items,))
        _expect_array(self, "popular", np.int32, (None,))
        _expect(0 < self.popular.shape[0] <= n_items, "popular must list between 1 and n_items items")
        _expect_indices(self.popular, n_items, "popular", allow_padding=False)
        _expect(np.unique(self.popular).shape[0] == self.popular.shape[0], "popular has duplicates")
        _expect_array(self, "known_user_ids", np.int64, (None,))
        n_known = self.known_user_ids.shape[0]
        _expect_array(self, "known_topk", np.int32, (n_known, None))
        _expect(self.known_topk.shape[1] <= TOP_K, f"known_topk has more than {TOP_K} columns")
        _expect_indices(self.known_topk, n_items, "known_topk", allow_padding=True)
        _expect_ascending(self.known_user_ids, "known_user_ids")
        _expect(self.feature_names.dtype.kind == "U", "feature_names must be text")
        n_features = self.feature_names.shape[0]
        _expect_array(self, "feature_vectors", np.float32, (n_features, dim))
        _expect_array(self, "table_user_ids", np.int64, (None,))
        _expect_array(self, "table_user_features", np.int32, (self.table_user_ids.shape[0], DEMOGRAPHIC_SLOTS))
        _expect_ascending(self.table_user_ids, "table_user_ids")
        _expect_indices(self.table_user_features, n_features, "table_user_features", allow_padding=True)
        for name in ("item_vectors", "item_biases", "feature_vectors"):
            _expect(bool(np.isfinite(getattr(self, name)).all()), f"{name} has NaN or infinite values")


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise BundleError(message)


def _expect_array(bundle: ModelBundle, name: str, dtype, shape: tuple) -> None:
    array = getattr(bundle, name)
    _expect(isinstance(array, np.ndarray), f"{name} is not an array")
    _expect(array.dtype == np.dtype(dtype), f"{name} has dtype {array.dtype}, expected {np.dtype(dtype)}")
    _expect(array.ndim == len(shape), f"{name} has {array.ndim} dimensions, expected {len(shape)}")
    for axis, (actual, expected) in enumerate(zip(array.shape, shape)):
        _expect(expected is None or actual == expected, f"{name} has shape {array.shape}: axis {axis} should be {expected}")


def _expect_indices(array: np.ndarray, bound: int, name: str, allow_padding: bool) -> None:
    if array.size == 0:
        return
    low = -1 if allow_padding else 0
    _expect(int(array.min()) >= low and int(array.max()) < bound, f"{name} has indices outside [{low}, {bound})")


def _expect_ascending(array: np.ndarray, name: str) -> None:
    _expect(array.size < 2 or bool((np.diff(array) > 0).all()), f"{name} must be strictly ascending")
