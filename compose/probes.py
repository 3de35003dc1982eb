"""Probes the suite runs inside the containers (`exec ... python -c SCRIPT`), and what it reads
of nginx's processes there.

- REPLICA_PROBE, in an inference container: its own /readyz and the per-worker gauge
  recsys_model_version{pid=...} of /metrics (one sample per live gunicorn worker), so "the replica
  serves version N" means every one of its workers does.
- REDIS_PROBE, in the trainer container: the services' own Redis settings (user recsys, password
  from the secret file) against the redis service over the compose network.
- EVENTS_PROBE, in the trainer container: the ingester's files in the trainer's DATA_DIR (where
  the ingester's own settings put them) and the ingester's /metrics over the compose network.
"""

from __future__ import annotations

import json
import re
import threading
import time

from compose.checks import check
from compose.engine import Engine

# python -c REPLICA_PROBE MODE ARG DEADLINE; prints one JSON line when done or at DEADLINE (time.time()).
# MODE ready: serving, every worker on a model; MODE changed: every worker on one version other than ARG.
REPLICA_PROBE = r"""
import json, os, re, sys, time, urllib.error, urllib.request
mode, arg, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
port = os.environ.get("INFERENCE_BIND", "0.0.0.0:8000").rsplit(":", 1)[1]
base = "http://127.0.0.1:" + port
workers_wanted = int(os.environ.get("WEB_CONCURRENCY") or 1)
def look():
    try:
        ready = urllib.request.urlopen(base + "/readyz", timeout=1).read().decode()
    except (urllib.error.URLError, OSError):
        ready = None
    try:
        text = urllib.request.urlopen(base + "/metrics", timeout=1).read().decode()
    except (urllib.error.URLError, OSError):
        text = ""
    workers = {m.group(1): int(float(m.group(2))) for m in re.finditer(r'^recsys_model_version\{pid="(\d+)"\} (\S+)', text, re.M)}
    return ready, workers
while True:
    ready, workers = look()
    nums = set(workers.values())
    if mode == "ready":
        done = ready is not None and len(workers) >= workers_wanted and 0 not in nums
    else:
        done = len(workers) >= workers_wanted and len(nums) == 1 and str(nums.pop()) != arg
    if done or time.time() > deadline:
        print(json.dumps({"done": done, "at": time.time(), "ready": ready, "workers": workers, "wanted": workers_wanted}))
        break
    time.sleep(0.05)
"""

# python -c REDIS_PROBE: who the services log in as, and the verdict on what their user must not do.
REDIS_PROBE = r"""
import json, redis
from common.redisconf import RedisSettings
settings = RedisSettings.from_env()
client = settings.client()
out = {"user": client.execute_command("ACL", "WHOAMI"), "current": client.get(settings.prefix + ":current")}
for command in (("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "*"), ("CONFIG", "SET", "appendonly", "no"), ("KEYS", "*"),
                ("SHUTDOWN", "NOSAVE"), ("DEBUG", "SLEEP", "0"), ("ACL", "LIST"), ("INFO",), ("GET", "elsewhere:key"),
                ("SET", "elsewhere:key", "x")):
    try:
        client.execute_command(*command)
        out[" ".join(command[:2])] = "ALLOWED"
    except redis.RedisError as error:
        out[" ".join(command[:2])] = type(error).__name__ + ": " + str(error)[:80]
try:
    redis.Redis(host=settings.host, port=settings.port, socket_timeout=3).ping()
    out["no login"] = "ALLOWED"
except redis.RedisError as error:
    out["no login"] = type(error).__name__ + ": " + str(error)[:60]
print(json.dumps(out, default=lambda b: b.decode()))
"""

# python -c EVENTS_PROBE TOPIC METRICS_URL: the lines of TOPIC's event and quarantine files (a batch
# merged into an hour file counts once, ingest.store's own rule) and the ingester's ingest_*_total.
EVENTS_PROBE = r"""
import json, os, re, sys, urllib.request
from ingest.config import IngestConfig
from ingest.store import parse_name
topic, metrics_url = sys.argv[1], sys.argv[2]
config = IngestConfig.from_env({"DATA_DIR": os.environ["DATA_DIR"], "KAFKA_TOPIC": topic})
def count(directory):
    for _ in range(10):   # a batch merged away while we read: look again
        try:
            chunks = [c for c in (parse_name(p.name) for p in directory.glob(topic + "-*.log")) if c]
            live = [c for c in chunks if not any(other.covers(c) for other in chunks)]
            return len(live), sum((directory / c.name).read_bytes().count(b"\n") for c in live)
        except FileNotFoundError:
            continue
    raise SystemExit("the files keep changing")
files, valid = count(config.events_dir)
quarantine_files, quarantined = count(config.quarantine)
try:
    text = urllib.request.urlopen(metrics_url, timeout=3).read().decode()
except OSError as error:
    text = ""
metrics = {}
for m in re.finditer(r"^(ingest_\w+_total)(?:\{[^}]*\})? (\S+)$", text, re.M):
    metrics[m.group(1)] = metrics.get(m.group(1), 0) + float(m.group(2))
print(json.dumps({"events_dir": str(config.events_dir), "files": files, "valid": valid,
                  "quarantine_files": quarantine_files, "quarantined": quarantined, "metrics": metrics}))
"""

# python -c FETCH URL: the body of a GET inside the compose network (nothing on stdout when it fails).
FETCH = "import sys, urllib.request as u; print(u.urlopen(sys.argv[1], timeout=3).read().decode())"

# In the redis container: redis-cli as the services' user (refused) and as the admin (the health check).
REDIS_CLI = ('REDISCLI_AUTH=$(cat /run/secrets/redis_password) redis-cli --no-auth-warning --user recsys FLUSHALL; '
             'REDISCLI_AUTH=$(cat /run/secrets/redis_password) redis-cli --no-auth-warning --user recsys CONFIG GET maxmemory; '
             'sh /usr/local/etc/recsys-redis/cli.sh --no-auth-warning ping')

NGINX_PIDS = 'for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = nginx ] && echo ${d#/proc/}; done; true'


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def probe_replica(engine: Engine, container: str, mode: str, arg: str, deadline: float) -> dict:
    out = engine.exec(container, "python", "-c", REPLICA_PROBE, mode, arg, str(deadline),
                      timeout=max(10, deadline - time.time() + 20))
    return last_json(out)


def probe_replicas(engine: Engine, containers: list[str], mode: str, arg: str, deadline: float) -> dict[str, dict]:
    """REPLICA_PROBE in every container at once; a probe that could not run counts as not done."""
    results: dict[str, dict] = {}

    def one(container: str) -> None:
        try:
            results[container] = probe_replica(engine, container, mode, arg, deadline)
        except Exception as error:  # reported as not done
            results[container] = {"done": False, "error": str(error)}

    threads = [threading.Thread(target=one, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def probe_redis(engine: Engine, trainer: str) -> dict:
    return last_json(engine.exec(trainer, "python", "-c", REDIS_PROBE))


def probe_events(engine: Engine, trainer: str, topic: str, metrics_url: str) -> dict:
    return last_json(engine.exec(trainer, "python", "-c", EVENTS_PROBE, topic, metrics_url))


def fetch_json(engine: Engine, container: str, url: str) -> dict | None:
    """GET `url` from inside `container`: the JSON answer, None while it fails."""
    out = engine.docker("exec", container, "python", "-c", FETCH, url, check_rc=False)
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def redis_cli(engine: Engine, redis: str) -> list[str]:
    return [line for line in engine.exec(redis, "sh", "-c", REDIS_CLI).splitlines() if line.strip()]


def nginx_processes(engine: Engine, nginx: str) -> list[int]:
    return sorted(int(p) for p in engine.exec(nginx, "sh", "-c", NGINX_PIDS).split())


def version_number(version: str | None) -> int:
    """The N of a version name `vN-...`."""
    match = re.match(r"v(\d+)", version or "")
    check(match is not None, f"not a version name: {version!r}")
    return int(match.group(1))
