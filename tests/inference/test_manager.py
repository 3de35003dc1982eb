"""The manager's policy, with a loader that only records what it was asked (no Redis, no files)."""

from __future__ import annotations

import pytest
import redis

from common.bundle import BundleError
from common.recommend import Recommender
from common.weightcache import VersionNotFound, WeightIntegrityError
from harness.bundles import make_bundle
from inference.holder import ModelHolder
from inference.loader import LoadedModel
from inference.manager import ModelManager

FAILURES = "recsys_model_load_failures_total"
LOADS = "recsys_model_loads_total"
RECOMMENDER = Recommender(make_bundle(n_items=30, n_known=5, n_table_only=2))


class RecordingLoader:
    """Loads every version except those in `failures` (version -> exception to raise)."""

    def __init__(self, holder: ModelHolder, failures: dict[str, Exception] | None = None):
        self.holder = holder
        self.failures = dict(failures or {})
        self.events: list[tuple] = []

    def load(self, version: str) -> LoadedModel:
        self.events.append(("load", version, self.holder.version))  # and what served meanwhile
        if version in self.failures:
            raise self.failures[version]
        return LoadedModel(version, RECOMMENDER)

    def discard_except(self, keep: set[str]) -> list[str]:
        self.events.append(("discard_except", frozenset(keep), self.holder.version))
        return []


@pytest.fixture
def holder():
    return ModelHolder()


def manager_with(holder, failures: dict[str, Exception] | None = None) -> tuple[ModelManager, RecordingLoader]:
    loader = RecordingLoader(holder, failures)
    return ModelManager(loader, holder), loader


def test_load_then_swap_then_drop_and_a_swap_counts_a_load(holder, metric):
    manager, loader = manager_with(holder)
    loads = metric(LOADS)
    manager.aspire("v1-aaaaaa")
    first = holder.model
    manager.aspire("v2-bbbbbb")
    assert holder.version == "v2-bbbbbb" and holder.model is not first
    assert loader.events == [
        ("load", "v1-aaaaaa", None),
        ("discard_except", {"v1-aaaaaa"}, "v1-aaaaaa"),
        ("load", "v2-bbbbbb", "v1-aaaaaa"),                   # the old one serves while the new one loads
        ("discard_except", {"v2-bbbbbb"}, "v2-bbbbbb"),       # and is dropped only after the swap
    ]
    assert metric(LOADS) == loads + 2
    assert metric("recsys_model_version") == 2


def test_the_serving_version_is_not_loaded_again(holder, metric):
    manager, loader = manager_with(holder)
    manager.aspire("v1-aaaaaa")
    loads = metric(LOADS)
    for _ in range(3):
        manager.aspire("v1-aaaaaa")
    assert [event[0] for event in loader.events] == ["load", "discard_except"]
    assert metric(LOADS) == loads


@pytest.mark.parametrize("error, reason", [
    (WeightIntegrityError("chunk 0 of array 'item_vectors' fails its SHA-256 check"), "integrity"),
    (BundleError("item_vectors has NaN or infinite values"), "invalid"),
    (VersionNotFound("version v2-bbbbbb has no manifest in Redis"), "invalid"),
])
def test_a_bad_version_stays_refused_and_the_old_one_keeps_serving(holder, metric, error, reason):
    manager, loader = manager_with(holder, {"v2-bbbbbb": error})
    manager.aspire("v1-aaaaaa")
    serving, failures, loads = holder.model, metric(FAILURES, reason=reason), metric(LOADS)
    for _ in range(3):
        manager.aspire("v2-bbbbbb")
    assert holder.model is serving and holder.version == "v1-aaaaaa"
    assert manager.refused == {"v2-bbbbbb"}
    assert [event for event in loader.events if event[1] == "v2-bbbbbb"] == [("load", "v2-bbbbbb", "v1-aaaaaa")]
    assert not any(event[0] == "discard_except" and "v1-aaaaaa" not in event[1] for event in loader.events)
    assert metric(FAILURES, reason=reason) == failures + 1
    assert metric(LOADS) == loads and metric("recsys_model_version") == 1
    manager.aspire("v3-cccccc")  # a good successor still gets in
    assert holder.version == "v3-cccccc"


def test_a_refused_first_version_leaves_the_replica_not_ready_until_a_good_one(holder):
    manager, _ = manager_with(holder, {"v1-aaaaaa": BundleError("movie_ids is empty")})
    manager.aspire("v1-aaaaaa")
    assert holder.model is None and manager.refused == {"v1-aaaaaa"}
    manager.aspire("v2-bbbbbb")
    assert holder.version == "v2-bbbbbb"


def test_files_that_cannot_be_mapped_are_retried_not_refused(holder, metric):
    manager, loader = manager_with(holder, {"v2-bbbbbb": OSError(28, "No space left on device")})
    manager.aspire("v1-aaaaaa")
    io_failures = metric(FAILURES, reason="io")
    manager.aspire("v2-bbbbbb")
    assert holder.version == "v1-aaaaaa" and not manager.refused
    assert metric(FAILURES, reason="io") == io_failures + 1
    del loader.failures["v2-bbbbbb"]  # space was freed
    manager.aspire("v2-bbbbbb")
    assert holder.version == "v2-bbbbbb"


def test_redis_going_away_during_a_load_is_the_callers_and_changes_nothing(holder, metric):
    manager, loader = manager_with(holder, {"v2-bbbbbb": redis.ConnectionError("Connection refused")})
    manager.aspire("v1-aaaaaa")
    failures = sum(metric(FAILURES, reason=reason) for reason in ("integrity", "invalid", "io"))
    with pytest.raises(redis.ConnectionError):
        manager.aspire("v2-bbbbbb")
    assert holder.version == "v1-aaaaaa" and not manager.refused
    assert sum(metric(FAILURES, reason=reason) for reason in ("integrity", "invalid", "io")) == failures
    del loader.failures["v2-bbbbbb"]  # Redis is back: the source reports the version again
    manager.aspire("v2-bbbbbb")
    assert holder.version == "v2-bbbbbb"
