"""The `trainer` console script, run as a process against a real redis-server."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

TRAINER = str(Path(sys.executable).parent / "trainer")


def trainer(*args, env=None):
    return subprocess.run([TRAINER, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def redis_env(redis_server, redis_client):
    env = dict(os.environ, **redis_server.env, WEIGHTS_PREFIX="cli")
    return env


def test_publish_status_rollback(small_model, redis_env):
    model_dir, _ = small_model
    first = trainer("publish", "--model-dir", str(model_dir), env=redis_env)
    assert first.returncode == 0, first.stderr
    second = trainer("publish", "--model-dir", str(model_dir), env=redis_env)
    assert second.returncode == 0, second.stderr
    v1, v2 = first.stdout.split()[-1], second.stdout.split()[-1]
    status = trainer("status", env=redis_env)
    assert status.returncode == 0
    assert f"current version {v2}" in status.stdout and "precision@10" in status.stdout
    back = trainer("rollback", env=redis_env)
    assert back.returncode == 0 and v1 in back.stdout
    assert f"current version {v1}" in trainer("status", env=redis_env).stdout


def test_wrong_password_is_one_clear_line(small_model, redis_env):
    result = trainer("status", env=dict(redis_env, REDIS_PASSWORD="wrong"))
    assert result.returncode == 1
    assert result.stderr.strip() == f"trainer status: Redis at 127.0.0.1:{redis_env['REDIS_PORT']}/0 refused user 'recsys' with the password from REDIS_PASSWORD: check REDIS_USERNAME and REDIS_PASSWORD"


def test_recommend_writes_ranked_csv_without_seen_items(small_model, tmp_path):
    model_dir, result = small_model
    users = tmp_path / "users.txt"
    known = result.bundle.known_user_ids[:3].tolist()
    users.write_text("\n".join(str(u) for u in known + [987654321]) + "\n")
    out = tmp_path / "recs.csv"
    run = trainer("recommend", "--model-dir", str(model_dir), "--users", str(users), "-k", "10", "--out", str(out))
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0].keys()) == ["user_id", "rank", "movie_id"]
    assert len(rows) == 40
    first = [r["movie_id"] for r in rows if r["user_id"] == str(known[0])]
    assert [int(r["rank"]) for r in rows if r["user_id"] == str(known[0])] == list(range(1, 11))
    bundle = result.bundle
    assert first == [bundle.movie_ids[i] for i in bundle.known_topk[0][:10]]


def test_recommend_names_the_bad_line(small_model, tmp_path):
    model_dir, _ = small_model
    users = tmp_path / "users.txt"
    users.write_text("1\n2\nthree\n")
    run = trainer("recommend", "--model-dir", str(model_dir), "--users", str(users))
    assert run.returncode == 1
    assert run.stderr.strip() == f"trainer recommend: {users}:3: 'three' is not a user id (a non-negative integer)"


def test_missing_model_dir_is_one_clear_line(tmp_path):
    run = trainer("publish", "--model-dir", str(tmp_path / "nothing"))
    assert run.returncode == 1
    assert "no saved model" in run.stderr and run.stderr.count("\n") == 1
