"""The `trainer` console script, run as a process against a real redis-server."""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common.weightcache import WeightStore

TRAINER = str(Path(sys.executable).parent / "trainer")


def trainer(*args, env=None):
    return subprocess.run([TRAINER, *args], capture_output=True, text=True, env=env, timeout=300)


@pytest.fixture
def redis_env(redis_server, redis_client):
    env = dict(os.environ, **redis_server.env, WEIGHTS_PREFIX="test-cli")
    return env


STATUS_LINE = re.compile(r"([* ]) (v\d+-\w+): (\d+\.\d) MB, precision@10 (\S+)")


def status_of(env) -> tuple[str, set]:
    """`trainer status` parsed: its first line, and (current marker, version, precision@10) per version."""
    run = trainer("status", env=env)
    assert run.returncode == 0, run.stderr
    first, *rest = run.stdout.splitlines()
    entries = [STATUS_LINE.fullmatch(line) for line in rest]
    assert all(entries), run.stdout
    return first, {entry.group(1, 2, 4) for entry in entries}


def test_publish_status_rollback(small_model, redis_env, redis_client):
    model_dir, result = small_model
    p10 = f"{result.meta['report']['model']['precision@10']:.4f}"
    first = trainer("publish", "--model-dir", str(model_dir), env=redis_env)
    assert first.returncode == 0, first.stderr
    second = trainer("publish", "--model-dir", str(model_dir), env=redis_env)
    assert second.returncode == 0, second.stderr
    v1, v2 = first.stdout.split()[-1], second.stdout.split()[-1]
    store = WeightStore(redis_client, prefix="test-cli")
    assert store.versions() == [v1, v2] and first.stdout == f"published {v1}\n"

    # Every version with the metric the model was saved with; the newest one current.
    assert status_of(redis_env) == (f"prefix test-cli: current version {v2}", {(" ", v1, p10), ("*", v2, p10)})
    as_json = trainer("status", "--json", env=redis_env)
    listing = json.loads(as_json.stdout)
    assert listing["current"] == v2 and listing["pending"] == []
    assert [entry["metrics"] for entry in listing["versions"]] == [result.meta["report"]] * 2

    back = trainer("rollback", env=redis_env)
    assert back.returncode == 0 and back.stdout == f"current version is now {v1}\n"
    assert store.current_version() == v1
    assert status_of(redis_env) == (f"prefix test-cli: current version {v1}", {("*", v1, p10), (" ", v2, p10)})


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


def test_generate_data_with_overrides_is_what_generate_writes(tmp_path):
    """`trainer generate-data` is the one generator CLI: --set overrides, the same bytes as
    generate() with those keyword arguments, the summary on stdout."""
    from trainer.synthetic.generate import generate

    run = trainer("generate-data", "--preset", "small", "--out", str(tmp_path / "cli"), "--seed", "3",
                  "--set", "n_users=20", "--set", "n_movies=30", "--set", "interactions=50", "--set", "mean_minutes=4.5")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert (summary["users"], summary["movies"], summary["seed"]) == (20, 30, 3)
    assert summary["params"]["mean_minutes"] == 4.5
    generate("small", tmp_path / "direct", seed=3, n_users=20, n_movies=30, interactions=50, mean_minutes=4.5)
    written = {p.relative_to(tmp_path / "cli"): p.read_bytes() for p in (tmp_path / "cli").rglob("*") if p.is_file()}
    assert written == {p.relative_to(tmp_path / "direct"): p.read_bytes()
                       for p in (tmp_path / "direct").rglob("*") if p.is_file()}
    assert len(written) == 4  # users.csv, movies.csv, manifest.json, events/events-0001.log


@pytest.mark.parametrize("args, message", [
    (["--preset", "huge"], "unknown preset 'huge'; choose one of small, default, full"),
    (["--set", "n_user=3"], "unknown generator parameter(s) n_user; known: "),
    (["--set", "n_users"], "--set expects NAME=VALUE, got 'n_users'"),
    (["--set", "n_users=many"], "generator parameter(s) n_users='many': expected a number"),
])
def test_generate_data_refuses_bad_options_in_one_line(tmp_path, args, message):
    run = trainer("generate-data", "--out", str(tmp_path / "out"), *args)
    assert run.returncode == 1
    assert run.stderr.startswith(f"trainer generate-data: {message}") and run.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


def test_rollback_skips_a_version_no_replica_would_load(small_model, redis_env, redis_client):
    model_dir, _ = small_model
    versions = [trainer("publish", "--model-dir", str(model_dir), "--force", env=redis_env).stdout.split()[-1]
                for _ in range(3)]
    chunk = next(redis_client.scan_iter(match=f"test-cli:v:{versions[1]}:a:item_vectors:*"))
    redis_client.setrange(chunk, 10, b"\xff\xff\xff\xff")   # the middle version is corrupt
    back = trainer("rollback", env=redis_env)
    assert back.returncode == 0 and back.stdout == f"current version is now {versions[0]}\n", back.stderr
    assert f"skipping {versions[1]}" in back.stderr
