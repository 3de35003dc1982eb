"""The quality gate, against a real redis-server."""

import pytest

from common.weightcache import WeightStore
from harness.bundles import make_bundle
from trainer.artifacts import SavedModel
from trainer.publish import GateRejected, publish


def saved(model_p10, popularity_p10=0.1):
    report = {"model": {"precision@10": model_p10}, "popularity": {"precision@10": popularity_p10}}
    return SavedModel(make_bundle(), {"report": report, "fingerprint": f"fp-{model_p10}"})


def test_gate_needs_to_beat_popularity(redis_client):
    store = WeightStore(redis_client, prefix="test-gate")
    with pytest.raises(GateRejected, match="does not beat popularity"):
        publish(saved(0.1, popularity_p10=0.1), store)
    assert store.current_version() is None
    forced = publish(saved(0.1, popularity_p10=0.1), store, force=True)
    assert store.current_version() == forced
    assert store.manifest(forced).metadata["forced"] is True


def test_gate_refuses_a_drop_of_more_than_five_percent(redis_client):
    store = WeightStore(redis_client, prefix="test-gate")
    good = publish(saved(0.40), store)
    with pytest.raises(GateRejected, match="more than 5% below current"):
        publish(saved(0.37), store)
    assert store.current_version() == good
    slightly_worse = publish(saved(0.39), store)
    assert store.current_version() == slightly_worse


def test_unevaluated_model_needs_force(redis_client):
    store = WeightStore(redis_client, prefix="test-gate")
    with pytest.raises(GateRejected, match="no evaluation"):
        publish(SavedModel(make_bundle(), {"report": {}}), store)
