"""Every published version says what produced it, and `trainer provenance` follows its lineage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.weightcache import WeightStore

TRAINER = str(Path(sys.executable).parent / "trainer")


@pytest.fixture
def env(redis_server, redis_client):  # redis_client: an empty database for each test
    return dict(os.environ, **redis_server.env, WEIGHTS_PREFIX="test-prov")


def trainer(*args, env):
    result = subprocess.run([TRAINER, *args], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_version_carries_its_data_code_config_metrics_and_what_it_replaced(small_model, small_data, env, redis_client):
    model_dir, result = small_model
    v1 = trainer("publish", "--model-dir", str(model_dir), env=env).split()[-1]
    v2 = trainer("publish", "--model-dir", str(model_dir), "--force", env=env).split()[-1]
    meta = WeightStore(redis_client, prefix="test-prov").manifest(v2).metadata
    provenance = meta["provenance"]
    assert meta["replaced"] == v1 and meta["metrics"] == result.meta["report"] and meta["published_at"] > 0
    data = provenance["data"]
    assert data["path"] == str(small_data) and data["files"] == 3 and data["fingerprint"] == result.meta["fingerprint"]
    assert data["event_window"]["first"].startswith("2023-10-01") and data["event_window"]["last"] > data["event_window"]["first"]
    assert data["counts"]["events"]["watch"] > 0 and provenance["config"]["epochs"] == result.meta["config"]["epochs"]
    code = provenance["code"]
    assert len(code.get("git_commit", "x" * 40).split("+")[0]) == 40 or code.get("version")
    assert provenance["trained_at"].endswith("Z") and provenance["training_seconds"] > 0


def test_provenance_prints_the_lineage_back_to_the_first_ancestor(small_model, env):
    model_dir, _ = small_model
    versions = [trainer("publish", "--model-dir", str(model_dir), "--force", env=env).split()[-1] for _ in range(3)]
    text = trainer("provenance", env=env)
    assert text.startswith(f"{versions[-1]} and its lineage (3 versions, newest first):")
    heads = [line.split(":", 1)[0] for line in text.splitlines()[1:] if not line.startswith("  ")]
    assert heads == versions[::-1]
    assert f"replaced {versions[1]}" in text and "replaced nothing" in text and "events 2023-10-01" in text
    chain = json.loads(trainer("provenance", "--version", versions[1], "--json", env=env))
    assert [entry["version"] for entry in chain] == versions[1::-1]
