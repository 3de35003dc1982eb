"""Offline evaluation: per-user random hold-out, model vs popularity, and a cold-start score.

Protocol: (at most `eval_fit_users` random users take part; all of them below that.) A share of users (`cold_start_fraction`, among users with known attributes) is held out
entirely; of every other user, a random `test_fraction` of their seen pairs is held out. The model
is fit on the rest. Each evaluated user gets a top-k list with their training items excluded, and a
held-out seen pair counts as relevant. Cold-start users are scored from their demographic features
alone against all their pairs. Popularity (training counts) is scored on exactly the same users.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from trainer import metrics
from trainer.config import ModelConfig
from trainer.features import build_feature_space, interaction_matrix
from trainer.fit import fit, item_representations, user_vectors
from trainer.ranking import popularity_biases, top_k

log = logging.getLogger(__name__)
KS = (10, 20)


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame   # seen pairs the model may learn from (weight 0 = seen, not a positive)
    test: pd.DataFrame    # held-out pairs of warm users
    cold: pd.DataFrame    # every pair of the cold-start users


def split_interactions(frame: pd.DataFrame, table_user_ids: np.ndarray, config: ModelConfig) -> Split:
    rng = np.random.default_rng(config.seed)
    users = np.unique(frame["user_id"].to_numpy())
    eligible = np.intersect1d(users, table_user_ids)
    n_cold = int(round(len(eligible) * config.cold_start_fraction))
    cold_users = rng.choice(eligible, size=n_cold, replace=False) if n_cold else np.empty(0, dtype=np.int64)
    is_cold = frame["user_id"].isin(cold_users).to_numpy()
    warm = frame[~is_cold]
    shuffled = warm.iloc[rng.permutation(len(warm))]
    rank = shuffled.groupby("user_id").cumcount().to_numpy()
    size = shuffled.groupby("user_id")["user_id"].transform("size").to_numpy()
    held_out = rank < np.round(size * config.test_fraction)
    return Split(train=shuffled[~held_out], test=shuffled[held_out], cold=frame[is_cold])


def sample_users(frame: pd.DataFrame, limit: int, seed: int) -> pd.DataFrame:
    """All interactions of at most `limit` random users: at course scale the evaluation fit is an
    estimate and need not cost as much as the final fit on everybody."""
    users = np.unique(frame["user_id"].to_numpy())
    if len(users) <= limit:
        return frame
    chosen = np.random.default_rng(seed + 2).choice(users, size=limit, replace=False)
    return frame[frame["user_id"].isin(chosen)]


def _scores(truth: dict, ranked: dict, n_items: int) -> dict:
    result = {"users": len(truth)}
    for k in KS:
        pairs = [(truth[u], ranked[u]) for u in truth]
        result[f"precision@{k}"] = float(np.mean([metrics.precision_at_k(t, p, k) for t, p in pairs])) if pairs else 0.0
        result[f"recall@{k}"] = float(np.mean([metrics.recall_at_k(t, p, k) for t, p in pairs])) if pairs else 0.0
        result[f"ndcg@{k}"] = float(np.mean([metrics.ndcg_at_k(t, p, k) for t, p in pairs])) if pairs else 0.0
        result[f"map@{k}"] = float(np.mean([metrics.average_precision_at_k(t, p, k) for t, p in pairs])) if pairs else 0.0
        result[f"coverage@{k}"] = metrics.catalog_coverage((p for _, p in pairs), n_items, k)
    return result


def _truth(frame: pd.DataFrame, users: np.ndarray) -> dict:
    grouped = frame[frame["user_id"].isin(users)].groupby("user_id")["movie_id"]
    return {int(user): set(items) for user, items in grouped}


def _ranked(users: np.ndarray, indices: np.ndarray, movie_ids: np.ndarray) -> dict:
    return {int(user): [movie_ids[i] for i in row if i >= 0] for user, row in zip(users, indices)}


def evaluate(frame: pd.DataFrame, users: pd.DataFrame, movies: pd.DataFrame, config: ModelConfig) -> dict:
    """Fit on a split of `frame` (user_id, movie_id, weight) and score model and popularity."""
    started = time.monotonic()
    frame = sample_users(frame, config.eval_fit_users, config.seed)
    split = split_interactions(frame, users["user_id"].to_numpy(dtype=np.int64), config)
    positives = split.train[split.train["weight"] > 0]
    space = build_feature_space(positives, users, movies, config.identity_weight)
    model = fit(space, positives, config, label="evaluation fit")
    items, biases = item_representations(model, space)
    pop = popularity_biases(space, positives)
    rng = np.random.default_rng(config.seed + 1)
    k = max(KS)

    warm_users = np.unique(split.test["user_id"].to_numpy())
    warm_users = warm_users[space.user_index(warm_users) >= 0]
    if len(warm_users) > config.eval_users:
        warm_users = np.sort(rng.choice(warm_users, size=config.eval_users, replace=False))
    rows = space.user_index(warm_users)
    seen = interaction_matrix(space, split.train[split.train["user_id"].isin(warm_users)], weighted=False).tocsr()[rows]
    truth = _truth(split.test, warm_users)
    model_top = top_k(user_vectors(model, space.user_features[rows]), items, biases, k, exclude=seen)
    pop_top = top_k(np.zeros((len(rows), 1), np.float32), np.zeros((space.n_items, 1), np.float32), pop, k, exclude=seen)
    report = {
        "model": _scores(truth, _ranked(warm_users, model_top, space.movie_ids), space.n_items),
        "popularity": _scores(truth, _ranked(warm_users, pop_top, space.movie_ids), space.n_items),
    }

    cold_users = np.unique(split.cold["user_id"].to_numpy())
    if len(cold_users) > config.eval_users:
        cold_users = np.sort(rng.choice(cold_users, size=config.eval_users, replace=False))
    if len(cold_users):
        cold_truth = _truth(split.cold, cold_users)
        cold_top = top_k(user_vectors(model, space.demographic_matrix(cold_users)), items, biases, k)
        cold_pop = top_k(np.zeros((len(cold_users), 1), np.float32), np.zeros((space.n_items, 1), np.float32), pop, k)
        report["cold_start"] = {
            "model": _scores(cold_truth, _ranked(cold_users, cold_top, space.movie_ids), space.n_items),
            "popularity": _scores(cold_truth, _ranked(cold_users, cold_pop, space.movie_ids), space.n_items),
        }
    report["protocol"] = {
        "test_fraction": config.test_fraction, "cold_start_fraction": config.cold_start_fraction, "seed": config.seed,
        "users_sampled": int(frame["user_id"].nunique()), "train_pairs": len(split.train), "test_pairs": len(split.test), "cold_users": int(len(np.unique(split.cold["user_id"]))),
        "seconds": round(time.monotonic() - started, 1),
    }
    return report


def format_report(report: dict) -> str:
    columns = [f"{m}@{k}" for k in KS for m in ("precision", "recall", "ndcg", "map", "coverage")]
    rows = [("model", report["model"]), ("popularity", report["popularity"])]
    if "cold_start" in report:
        rows += [("cold-start model", report["cold_start"]["model"]), ("cold-start popularity", report["cold_start"]["popularity"])]
    width = max(len(name) for name, _ in rows) + 2
    lines = ["".ljust(width) + "  ".join(c.rjust(12) for c in columns) + "  users".rjust(8)]
    for name, scores in rows:
        lines.append(name.ljust(width) + "  ".join(f"{scores[c]:12.4f}" for c in columns) + f"{scores['users']:8d}")
    model_p, pop_p = report["model"]["precision@10"], report["popularity"]["precision@10"]
    lines.append(f"precision@10: model {model_p:.4f}, popularity {pop_p:.4f}, ratio {model_p / pop_p if pop_p else float('inf'):.2f}x")
    return "\n".join(lines)
