"""Training on generated data end to end: evaluation, bundle, saved artifacts."""

import json

import numpy as np

from common.bundle import TOP_K
from trainer import artifacts
from trainer.interactions import build_interactions
from trainer.loaders.tables import load_simulator_dir


def test_model_beats_popularity_and_demographics_help_cold_start(small_model):
    _, result = small_model
    report = result.meta["report"]
    assert report["model"]["precision@10"] > 1.2 * report["popularity"]["precision@10"]
    assert report["cold_start"]["model"]["precision@10"] > report["cold_start"]["popularity"]["precision@10"]
    for k in (10, 20):
        for metric in ("precision", "recall", "ndcg", "map", "coverage"):
            assert 0.0 <= report["model"][f"{metric}@{k}"] <= 1.0


def test_bundle_lists_exclude_seen_items_and_cover_every_known_user(small_model, small_data):
    model_dir, result = small_model
    bundle = result.bundle
    raw = load_simulator_dir(small_data)
    frame = build_interactions(raw.watches, raw.ratings).frame
    seen = frame.groupby("user_id")["movie_id"].agg(set)
    positives = set(frame[frame["weight"] > 0]["user_id"].unique())
    assert set(bundle.known_user_ids.tolist()) == positives
    assert bundle.known_topk.shape == (len(positives), TOP_K)
    for row, user_id in enumerate(bundle.known_user_ids[:200]):
        listed = {bundle.movie_ids[i] for i in bundle.known_topk[row] if i >= 0}
        assert not listed & seen[user_id]


def test_saved_model_round_trips_without_pickle(small_model):
    model_dir, result = small_model
    loaded = artifacts.load(model_dir)
    for name, array in result.bundle.to_arrays().items():
        np.testing.assert_array_equal(getattr(loaded.bundle, name), array)
    assert loaded.meta["fingerprint"] == result.meta["fingerprint"]
    assert json.loads((model_dir / "metrics.json").read_text()) == result.meta["report"]
