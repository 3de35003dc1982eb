"""Loading one version from a real Redis into a real cache directory, as the workers of one replica do."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from common.bundle import BundleError, ModelBundle
from common.weightcache import WeightIntegrityError, WeightStore
from harness.bundles import make_bundle
from inference.cachedir import COMPLETE, open_cache
from inference.loader import ModelLoader


@pytest.fixture
def cache(tmp_path):
    return open_cache(tmp_path / "models")


@pytest.fixture
def counted(monkeypatch):
    """How often versions are fetched from Redis and bundles validated, in this process."""
    counts = {"fetch": 0, "validate": 0}
    validate, fetch = ModelBundle.validate, WeightStore.fetch

    def counting_validate(self):
        counts["validate"] += 1
        validate(self)

    def counting_fetch(self, *args, **kwargs):
        counts["fetch"] += 1
        return fetch(self, *args, **kwargs)

    monkeypatch.setattr(ModelBundle, "validate", counting_validate)
    monkeypatch.setattr(WeightStore, "fetch", counting_fetch)
    return counts


def test_the_first_worker_writes_and_validates_once_the_others_map_its_files(store, cache, bundle, counted):
    version = store.publish(bundle.to_arrays(), {"metrics": {"precision_at_k": 0.1}})
    counted.update(fetch=0, validate=0)  # publishing reads back and validates on the trainer's side
    workers = [ModelLoader(store, cache) for _ in range(3)]
    models = [None] * len(workers)

    def load(n):
        models[n] = workers[n].load(version)

    threads = [threading.Thread(target=load, args=(n,)) for n in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert counted == {"fetch": 1, "validate": 1}
    files = sorted(p.name for p in cache.version_dir(version).iterdir())
    assert files == sorted([COMPLETE] + [f"{name}.npy" for name in bundle.to_arrays()])  # no metadata.json
    for model in models:
        assert model.version == version
        mapped = model.recommender.bundle
        for name, array in bundle.to_arrays().items():
            served = getattr(mapped, name)
            assert isinstance(served, np.memmap) and not served.flags.writeable
            np.testing.assert_array_equal(served, array)
        assert model.recommender.known_list(1) == [int(i) for i in bundle.known_topk[0]]
    assert not [p for p in cache.path.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_an_invalid_model_never_reaches_the_disk(store, cache):
    arrays = make_bundle(seed=3).to_arrays()
    arrays["known_topk"] = arrays["known_topk"] + 1000
    version = store.publish(arrays)
    with pytest.raises(BundleError, match="known_topk has indices outside"):
        ModelLoader(store, cache).load(version)
    assert not cache.version_dir(version).exists() and not cache.complete(version)
    assert not [p for p in cache.path.iterdir() if p.name.startswith(".")]


def test_a_corrupt_chunk_is_an_integrity_error(store, cache, bundle):
    version = store.publish(bundle.to_arrays())
    key = next(store.client.scan_iter(match=f"{store.prefix}:v:{version}:a:item_biases:*"))
    data = bytearray(store.client.get(key))
    data[0] ^= 0xFF
    store.client.set(key, bytes(data))
    with pytest.raises(WeightIntegrityError, match="SHA-256"):
        ModelLoader(store, cache).load(version)
    assert not cache.version_dir(version).exists()


def test_discarding_spares_what_is_kept_and_what_another_worker_is_loading(store, cache, bundle):
    loader = ModelLoader(store, cache)
    old, loading, new = (loader.load(store.publish(bundle.to_arrays())).version for _ in range(3))
    with cache.locked(loading):
        assert loader.discard_except({new}) == [old]
    assert not cache.version_dir(old).exists() and not (cache.path / f"{old}.lock").exists()
    assert cache.complete(loading) and cache.complete(new)
    assert loader.discard_except({new}) == [loading]
