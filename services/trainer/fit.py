"""Fitting LightFM on a feature space, with a progress bar over epochs and all cores."""

from __future__ import annotations

import logging
import time

import numpy as np
import scipy.sparse as sp
from lightfm import LightFM
from tqdm import tqdm

from trainer.config import ModelConfig
from trainer.features import FeatureSpace, interaction_matrix

log = logging.getLogger(__name__)


def fit(space: FeatureSpace, positives, config: ModelConfig, label: str = "fit") -> LightFM:
    """Train on the positive interactions (`user_id, movie_id, weight`) of `space`'s users and items."""
    weights = interaction_matrix(space, positives).tocoo()
    interactions = sp.coo_matrix((np.ones_like(weights.data), (weights.row, weights.col)), shape=weights.shape)
    model = LightFM(
        no_components=config.no_components,
        loss=config.loss,
        learning_rate=config.learning_rate,
        item_alpha=config.item_alpha,
        user_alpha=config.user_alpha,
        max_sampled=config.max_sampled,
        random_state=np.random.RandomState(config.seed),
    )
    started = time.monotonic()
    log.info("%s: %d users, %d items, %d interactions, %d threads", label, space.n_users, space.n_items, weights.nnz, config.num_threads)
    with tqdm(total=config.epochs, desc=label, unit="epoch", leave=False, mininterval=1.0) as bar:
        for _ in range(config.epochs):
            model.fit_partial(
                interactions,
                user_features=space.user_features,
                item_features=space.item_features,
                sample_weight=weights if config.use_weights else None,
                epochs=1,
                num_threads=config.num_threads,
            )
            bar.update(1)
    log.info("%s: %d epochs in %.1f s", label, config.epochs, time.monotonic() - started)
    return model


def item_representations(model: LightFM, space: FeatureSpace) -> tuple[np.ndarray, np.ndarray]:
    biases, vectors = model.get_item_representations(space.item_features)
    return vectors.astype(np.float32), biases.astype(np.float32)


def user_vectors(model: LightFM, features: sp.csr_matrix) -> np.ndarray:
    """Latent vectors for rows of a user-feature matrix (user biases do not change a ranking)."""
    return np.asarray(features @ model.user_embeddings, dtype=np.float32)
