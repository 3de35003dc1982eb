"""The weight-cache contract against a real redis-server."""

import multiprocessing
import os
import signal

import numpy as np
import pytest

from common.weightcache import VersionNotFound, WeightIntegrityError, WeightStore


def sample_arrays(seed=0, n=50):
    rng = np.random.default_rng(seed)
    return {
        "vectors": rng.standard_normal((n, 8)).astype(np.float32),
        "ids": np.arange(n, dtype=np.int64),
        "names": np.array([f"movie+{i}+1999" for i in range(n)], dtype=str),
    }


def test_round_trip_preserves_arrays_and_metadata(redis_client):
    store = WeightStore(redis_client, prefix="test-t", chunk_size=64)  # many small chunks
    arrays = sample_arrays()
    version = store.publish(arrays, {"metrics": {"p": 0.5}})
    manifest, loaded = store.fetch()
    assert manifest.version == version == store.current_version()
    assert manifest.metadata["metrics"] == {"p": 0.5}
    assert len(manifest.arrays["vectors"].chunks) == 50 * 8 * 4 // 64
    for name, array in arrays.items():
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)


def test_no_pickle_dtypes_are_refused(redis_client):
    store = WeightStore(redis_client, prefix="test-t")
    with pytest.raises(ValueError, match="cannot be published"):
        store.publish({"objects": np.array([{"a": 1}], dtype=object)})
    assert store.current_version() is None


def test_corrupted_chunk_is_detected(redis_client):
    store = WeightStore(redis_client, prefix="test-t", chunk_size=128)
    version = store.publish(sample_arrays())
    key = f"test-t:v:{version}:a:vectors:1"
    data = bytearray(redis_client.get(key))
    data[3] ^= 0xFF
    redis_client.set(key, bytes(data))
    with pytest.raises(WeightIntegrityError, match="chunk 1 of array 'vectors' fails its SHA-256"):
        store.fetch(version)


def test_missing_chunk_and_tampered_shape_are_detected(redis_client):
    store = WeightStore(redis_client, prefix="test-t", chunk_size=128)
    version = store.publish(sample_arrays())
    redis_client.delete(f"test-t:v:{version}:a:ids:0")
    with pytest.raises(WeightIntegrityError, match="missing"):
        store.fetch(version)
    manifest = redis_client.get(f"test-t:v:{version}:manifest").replace(b"[50, 8]", b"[51, 8]")
    redis_client.set(f"test-t:v:{version}:manifest", manifest)
    with pytest.raises(WeightIntegrityError, match="needs .* bytes"):
        store.fetch(version)


def test_rollback_skips_versions_that_would_not_load(redis_client):
    store = WeightStore(redis_client, prefix="test-t")
    good = store.publish(sample_arrays(1))
    broken = store.publish(sample_arrays(2))
    newest = store.publish(sample_arrays(3))
    assert store.rollback(usable=lambda v: v != broken) == good and store.current_version() == good
    store.set_current(newest)
    with pytest.raises(VersionNotFound, match=f"skipped {broken}, {good}: not loadable"):
        store.rollback(usable=lambda v: False)
    assert store.current_version() == newest


def test_rollback_moves_the_pointer_back_and_forth(redis_client):
    store = WeightStore(redis_client, prefix="test-t")
    first = store.publish(sample_arrays(1))
    second = store.publish(sample_arrays(2))
    assert store.current_version() == second
    pubsub = store.subscribe()
    pubsub.get_message(timeout=1)
    assert store.rollback() == first
    assert store.current_version() == first
    message = pubsub.get_message(timeout=2)
    assert message and message["data"] == first.encode()
    np.testing.assert_array_equal(store.fetch()[1]["vectors"], sample_arrays(1)["vectors"])
    with pytest.raises(VersionNotFound):
        store.rollback()
    store.rollback(to=second)
    assert store.current_version() == second
    with pytest.raises(VersionNotFound):
        store.set_current("v999")


def test_keeps_only_the_last_k_versions_but_never_the_current(redis_client):
    store = WeightStore(redis_client, prefix="test-t", keep=2)
    versions = [store.publish(sample_arrays(i)) for i in range(4)]
    assert store.versions() == versions[-2:]
    assert not list(redis_client.scan_iter(match=f"test-t:v:{versions[0]}:*"))
    store.rollback(to=versions[2])
    store.publish(sample_arrays(9), make_current=False)
    assert store.current_version() == versions[2]
    assert versions[2] in store.versions()


def _publish_and_die(port, username, password):
    """Publish in a child process that is killed (SIGKILL) once the first array's chunks are in Redis."""
    import redis

    from common import weightcache

    encode, calls = weightcache.encode_array, []

    def encode_then_die(array):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGKILL)
        return encode(array)

    weightcache.encode_array = encode_then_die
    client = redis.Redis(host="127.0.0.1", port=port, username=username, password=password)
    weightcache.WeightStore(client, prefix="test-t", chunk_size=64).publish(sample_arrays(7))


def test_publisher_killed_midway_leaves_pointer_and_next_publish_cleans_up(redis_server, redis_client):
    store = WeightStore(redis_client, prefix="test-t")
    good = store.publish(sample_arrays(1))
    process = multiprocessing.get_context("fork").Process(target=_publish_and_die, args=(redis_server.port, redis_server.username, redis_server.password))
    process.start()
    process.join(20)
    assert process.exitcode == -signal.SIGKILL
    assert store.current_version() == good
    assert store.versions() == [good]
    partial = store.pending_versions()
    assert len(partial) == 1 and list(redis_client.scan_iter(match=f"test-t:v:{partial[0]}:*"))
    np.testing.assert_array_equal(store.fetch()[1]["vectors"], sample_arrays(1)["vectors"])
    newer = store.publish(sample_arrays(2))
    assert store.pending_versions() == []
    assert not list(redis_client.scan_iter(match=f"test-t:v:{partial[0]}:*"))
    assert store.current_version() == newer


def test_wrong_password_and_unreachable_redis_give_one_line_errors(redis_server):
    from common.redisconf import RedisSettings, RedisUnavailable, connect
    from harness.ports import free_port

    wrong = RedisSettings(port=redis_server.port, password="nope")
    with pytest.raises(RedisUnavailable, match="refused the password: check REDIS_PASSWORD") as info:
        connect(wrong)
    assert "\n" not in str(info.value)
    nowhere = RedisSettings(port=free_port(), password="x")
    with pytest.raises(RedisUnavailable, match="unreachable") as info:
        connect(nowhere, socket_timeout=0.5)
    assert "\n" not in str(info.value)
