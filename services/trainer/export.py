"""Everything a replica needs, precomputed from a fitted model: the ModelBundle."""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
from lightfm import LightFM
from tqdm import tqdm

from common.bundle import ModelBundle
from trainer.config import ModelConfig
from trainer.features import FeatureSpace, interaction_matrix
from trainer.fit import item_representations, user_vectors
from trainer.ranking import popularity_biases, top_k

log = logging.getLogger(__name__)
POPULAR_LENGTH = 1000


def export_bundle(model: LightFM, space: FeatureSpace, seen: pd.DataFrame, config: ModelConfig) -> ModelBundle:
    """Item vectors, each known user's ranked top-k (seen excluded), cold-start features, popularity."""
    started = time.monotonic()
    items, biases = item_representations(model, space)
    seen_matrix = interaction_matrix(space, seen, weighted=False).tocsr()
    seen_matrix.sum_duplicates()
    users = user_vectors(model, space.user_features)
    with tqdm(total=space.n_users, desc="top-k lists", unit="user", leave=False, mininterval=1.0) as bar:
        known_topk = top_k(users, items, biases, config.top_k, exclude=seen_matrix, progress=bar.update, threads=config.num_threads)
    positives = seen[seen["weight"] > 0]
    popular = np.argsort(-popularity_biases(space, positives), kind="stable")[: min(POPULAR_LENGTH, space.n_items)]
    bundle = ModelBundle(
        movie_ids=np.asarray(space.movie_ids, dtype=str),
        item_vectors=np.ascontiguousarray(items, dtype=np.float32),
        item_biases=np.ascontiguousarray(biases, dtype=np.float32),
        popular=popular.astype(np.int32),
        known_user_ids=space.user_ids.astype(np.int64),
        known_topk=known_topk,
        feature_names=np.asarray(space.demographic_names, dtype=str),
        feature_vectors=np.ascontiguousarray(model.user_embeddings[space.n_users :], dtype=np.float32),
        table_user_ids=space.table_user_ids.astype(np.int64),
        table_user_features=space.table_demographics.astype(np.int32),
    )
    bundle.validate()
    log.info("bundle: %d items, %d known users, %d table users, built in %.1f s",
             space.n_items, space.n_users, len(space.table_user_ids), time.monotonic() - started)
    return bundle
