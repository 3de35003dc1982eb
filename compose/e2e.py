#!/usr/bin/env python3
"""Container end-to-end suite (`make test-compose`): compose/compose.yaml built, scaled and
exercised through nginx, with `docker compose` where a Docker engine answers, else podman-compose
(after ../shared/container-rig/setup-container-rig).

Steps, each asserted and timed: remove what an interrupted run left; create the Redis secrets
(compose/secrets/, as `make compose-secrets`) when missing; build; up with --scale inference=3;
wait until every replica serves a model; Redis locked down (no published port, no password in any
container's inspect output, the services' user refused FLUSHALL/CONFIG/KEYS/... and keys outside
its prefix inside the compose network, no login no access); 60 requests through nginx, all valid,
from >= 3 replicas; scale to 4 (the new replica answers through nginx within 10 s of its start,
nginx neither reloaded nor restarted); stop a replica during a request loop (0 failed requests);
kill -9 a replica's main process from the host during a request loop (0 failed requests, the
restart policy starts it again, it answers through nginx again); publish a new version (every
worker of every replica serves it within 5 s); down -v (no container, network or volume left).

Standard library only: runs with any python3 >= 3.9, no virtualenv needed.

Environment:
  E2E_PORT      host port of nginx (default 8082; a free port if 8082 is taken and E2E_PORT is unset)
  E2E_PROJECT   compose project name (default recsys-e2e)
  E2E_PRESET    data preset the trainer generates (default small: trains in seconds)
  E2E_ENGINE    docker or podman (default: docker if `docker info` answers, else podman)
  E2E_KEEP=1    leave the stack up when a step fails (to look around; `down -v` it yourself)
  E2E_STRICT=1  also fail on requests that fail while scaling up (reported as a warning otherwise:
                gunicorn listens before its workers accept; see scale_up)
  CONTAINER_RIG path of setup-container-rig (default ../shared/container-rig/setup-container-rig)
Logs (build output, container logs of a failed run) go to .run/compose-e2e/.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import redis_acl  # noqa: E402  (scripts/redis_acl.py: the secrets compose.yaml mounts)

COMPOSE_FILE = ROOT / "compose" / "compose.yaml"
LOG_DIR = ROOT / ".run" / "compose-e2e"
PROJECT = os.environ.get("E2E_PROJECT", "recsys-e2e")
PRESET = os.environ.get("E2E_PRESET", "small")
RIG = Path(os.environ.get("CONTAINER_RIG", ROOT.parent / "shared" / "container-rig" / "setup-container-rig"))
SUITE_BUDGET = 15 * 60
CLIENT_TIMEOUT = 2.0      # a request slower than this counts as failed
SLOW = 0.8                # the simulator's budget: reported, not asserted (2 shared cores here)
MOVIE_ID = re.compile(r"[^\s,]+")
LABEL_PROJECT = f"label=com.docker.compose.project={PROJECT}"   # docker compose and podman-compose
SECRETS = redis_acl.COMPOSE_SECRETS   # compose.yaml's `secrets:` files


class SuiteFailure(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise SuiteFailure(message)


def log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- engine: docker compose or podman-compose -----------------------------------------------

def run(cmd: list[str], *, check_rc: bool = True, timeout: float = 600, env=None, log_to: Path | None = None) -> subprocess.CompletedProcess:
    if log_to is not None:
        with open(log_to, "ab") as out:
            out.write(f"\n$ {' '.join(cmd)}\n".encode())
            out.flush()
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env)  # nosec B603  # argv lists built in this file, no shell
        if check_rc and proc.returncode != 0:
            tail = log_to.read_text(errors="replace").splitlines()[-25:]
            raise SuiteFailure(f"`{' '.join(cmd)}` exited {proc.returncode}; last lines of {log_to}:\n" + "\n".join(tail))
        return proc
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)  # nosec B603  # argv lists built in this file, no shell
    if check_rc and proc.returncode != 0:
        raise SuiteFailure(f"`{' '.join(cmd)}` exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-1500:]}")
    return proc


def compose_variables() -> set[str]:
    """Every variable compose.yaml interpolates: removed from the environment of compose commands,
    so that an exported DATA_PRESET or WEIGHTS_PREFIX cannot override the suite's env file."""
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text())) | {"COMPOSE_PROJECT_NAME", "COMPOSE_FILE"}


@dataclass
class Engine:
    kind: str                 # docker | podman
    env_file: Path
    env: dict = field(default_factory=dict)

    @property
    def cli(self) -> str:
        return self.kind

    def compose(self, *args: str, check_rc: bool = True, timeout: float = 600, log_to: Path | None = None):
        base = ["docker", "compose"] if self.kind == "docker" else ["podman-compose"]
        cmd = [*base, "-p", PROJECT, "-f", str(COMPOSE_FILE), "--env-file", str(self.env_file), *args]
        return run(cmd, check_rc=check_rc, timeout=timeout, env=self.env, log_to=log_to)

    def docker(self, *args: str, check_rc: bool = True, timeout: float = 120) -> str:
        return run([self.cli, *args], check_rc=check_rc, timeout=timeout, env=self.env).stdout

    def containers(self, service: str | None = None, running_only: bool = True) -> list[str]:
        args = ["ps", "-q", "--no-trunc", "--filter", LABEL_PROJECT]
        if not running_only:
            args.insert(1, "-a")
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        if running_only:
            args += ["--filter", "status=running"]
        return self.docker(*args).split()

    def inspect(self, container: str, template: str) -> str:
        return self.docker("inspect", "-f", template, container).strip()

    def exec(self, container: str, *cmd: str, timeout: float = 60) -> str:
        return self.docker("exec", container, *cmd, timeout=timeout)

    def leftovers(self) -> dict[str, list[str]]:
        found = {
            "containers": self.docker("ps", "-aq", "--filter", LABEL_PROJECT).split(),
            "networks": self.docker("network", "ls", "-q", "--filter", LABEL_PROJECT).split(),
            "volumes": self.docker("volume", "ls", "-q", "--filter", LABEL_PROJECT).split(),
        }
        names = self.docker("network", "ls", "--format", "{{.Name}}").split()
        found["networks"] += [n for n in names if n == f"{PROJECT}_default" and n not in found["networks"]]
        volumes = self.docker("volume", "ls", "--format", "{{.Name}}").split()
        found["volumes"] += [v for v in volumes if v.startswith(f"{PROJECT}_") and v not in found["volumes"]]
        if self.kind == "podman":
            found["pods"] = self.docker("pod", "ls", "-q", "--filter", f"name=^pod_{PROJECT}$").split()
        return {kind: items for kind, items in found.items() if items}

    def clean(self) -> None:
        """What `down -v` should do, done by label: also after a run that died half-way."""
        self.compose("down", "--remove-orphans", "-v", "-t", "5", check_rc=False, timeout=180, log_to=LOG_DIR / "clean.log")
        ids = self.docker("ps", "-aq", "--filter", LABEL_PROJECT).split()
        if ids:
            self.docker("rm", "-f", "-v", *ids, check_rc=False)
        if self.kind == "podman":
            self.docker("pod", "rm", "-f", f"pod_{PROJECT}", check_rc=False)
        for network in set(self.docker("network", "ls", "-q", "--filter", LABEL_PROJECT).split()):
            self.docker("network", "rm", network, check_rc=False)
        if f"{PROJECT}_default" in self.docker("network", "ls", "--format", "{{.Name}}").split():
            self.docker("network", "rm", f"{PROJECT}_default", check_rc=False)
        volumes = set(self.docker("volume", "ls", "-q", "--filter", LABEL_PROJECT).split())
        volumes |= {v for v in self.docker("volume", "ls", "--format", "{{.Name}}").split() if v.startswith(f"{PROJECT}_")}
        for volume in volumes:
            self.docker("volume", "rm", "-f", volume, check_rc=False)


def docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=20)  # nosec B603 B607  # fixed argv; docker from PATH on purpose
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=20)  # nosec B603 B607  # fixed argv; docker from PATH on purpose
    except (OSError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0 and bool(info.stdout.strip()) and plugin.returncode == 0


def choose_engine() -> str:
    forced = os.environ.get("E2E_ENGINE")
    if forced not in (None, "", "docker", "podman"):
        raise SuiteFailure(f"E2E_ENGINE={forced!r}: expected docker or podman")
    if forced != "podman" and docker_engine_answers():
        return "docker"
    if forced == "docker":
        raise SuiteFailure("E2E_ENGINE=docker but `docker info` / `docker compose version` fail")
    if not RIG.exists():
        raise SuiteFailure(f"no Docker engine answers and the container rig is missing at {RIG} (set CONTAINER_RIG)")
    log(f"no Docker engine: preparing podman with {RIG}")
    proc = subprocess.run([str(RIG)], capture_output=True, text=True, timeout=900)  # nosec B603  # fixed path of the shared container-rig script
    (LOG_DIR / "rig.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SuiteFailure(f"{RIG} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    for tool in ("podman", "podman-compose"):
        check(shutil.which(tool) is not None, f"{tool} not on PATH after {RIG}")
    return "podman"


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))  # nosec B104  # probe only: is the port free on every interface nginx will bind
        except OSError:
            return False
    return True


def choose_port() -> int:
    wanted = os.environ.get("E2E_PORT")
    if wanted:
        port = int(wanted)
        check(port_is_free(port), f"E2E_PORT={port} is in use")
        return port
    if port_is_free(8082):
        return 8082
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log(f"port 8082 is taken (the local stack?): using {port} (set E2E_PORT to choose)")
    return port


# ---- HTTP through nginx ---------------------------------------------------------------------

@dataclass
class Outcome:
    ok: bool
    status: int
    served_by: str | None
    version: str | None
    seconds: float
    started: float            # time.time()
    problem: str = ""


def get(port: int, path: str, timeout: float = CLIENT_TIMEOUT) -> tuple[int, dict, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read().decode("utf-8", "replace")
    finally:
        conn.close()


def recommend(port: int, user: int) -> Outcome:
    started, t0 = time.time(), time.perf_counter()
    try:
        status, headers, body = get(port, f"/recommend/{user}")
    except (OSError, http.client.HTTPException) as error:
        return Outcome(False, 0, None, None, time.perf_counter() - t0, started, f"{type(error).__name__}: {error}")
    seconds = time.perf_counter() - t0
    outcome = Outcome(True, status, headers.get("x-served-by"), headers.get("x-model-version"), seconds, started)
    ids = body.split(",")
    if status != 200:
        outcome.ok, outcome.problem = False, f"status {status}: {body[:120]!r}"
    elif not headers.get("content-type", "").startswith("text/plain"):
        outcome.ok, outcome.problem = False, f"content type {headers.get('content-type')!r}"
    elif "\n" in body.rstrip("\n") or not body.strip():
        outcome.ok, outcome.problem = False, f"not one non-empty line: {body[:120]!r}"
    elif len(ids) > 20 or len(set(ids)) != len(ids) or not all(MOVIE_ID.fullmatch(i) for i in ids):
        outcome.ok, outcome.problem = False, f"not <= 20 unique comma-separated ids: {body[:160]!r}"
    elif not outcome.served_by or not outcome.version:
        outcome.ok, outcome.problem = False, "missing X-Served-By or X-Model-Version"
    return outcome


class RequestLoop:
    """A few clients requesting recommendations through nginx until stopped; every outcome kept."""

    def __init__(self, port: int, clients: int = 2, pause: float = 0.0):
        self.port, self.pause, self.outcomes, self._stop = port, pause, [], threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(clients)]

    def _run(self, n: int) -> None:
        user = n * 1000
        while not self._stop.is_set():
            user += 1
            self.outcomes.append(recommend(self.port, user % 400))
            if self.pause:
                self._stop.wait(self.pause)

    def __enter__(self):
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for thread in self._threads:
            thread.join(CLIENT_TIMEOUT + 2)

    def failures(self) -> list[Outcome]:
        return [o for o in list(self.outcomes) if not o.ok]


def latency_summary(outcomes: list[Outcome]) -> str:
    times = sorted(o.seconds * 1000 for o in outcomes)
    if not times:
        return "no requests"
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    slow = sum(1 for t in times if t > SLOW * 1000)
    return f"{len(times)} requests, p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, max {times[-1]:.1f} ms, > 800 ms: {slow}"


# ---- probes inside the replicas -------------------------------------------------------------

# Runs inside an inference container (python -c PROBE MODE ARG DEADLINE): reads its own /readyz
# and the per-worker gauge recsys_model_version{pid=...} from /metrics (liveall: one sample per live
# gunicorn worker), so "the replica serves version N" means every one of its workers does.
PROBE = r"""
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
    else:  # "changed": every worker serves one version other than arg
        done = len(workers) >= workers_wanted and len(nums) == 1 and str(nums.pop()) != arg
    if done or time.time() > deadline:
        print(json.dumps({"done": done, "at": time.time(), "ready": ready, "workers": workers}))
        break
    time.sleep(0.05)
"""


# Runs inside the trainer container (python -c REDIS_PROBE): the services' own Redis settings
# (user recsys, password from the secret file) against the redis service over the compose network.
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


def probe(engine: Engine, container: str, mode: str, arg: str, deadline: float) -> dict:
    out = engine.exec(container, "python", "-c", PROBE, mode, arg, str(deadline), timeout=max(10, deadline - time.time() + 20))
    return json.loads(out.strip().splitlines()[-1])


def probe_all(engine: Engine, containers: list[str], mode: str, arg: str, deadline: float) -> dict[str, dict]:
    results: dict[str, dict] = {}

    def one(container: str) -> None:
        try:
            results[container] = probe(engine, container, mode, arg, deadline)
        except Exception as error:  # reported as not done
            results[container] = {"done": False, "error": str(error)}

    threads = [threading.Thread(target=one, args=(c,)) for c in containers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def nginx_processes(engine: Engine, nginx: str) -> list[int]:
    script = 'for d in /proc/[0-9]*; do [ "$(cat $d/comm 2>/dev/null)" = nginx ] && echo ${d#/proc/}; done; true'
    return sorted(int(p) for p in engine.exec(nginx, "sh", "-c", script).split())


def version_number(version: str) -> int:
    match = re.match(r"v(\d+)", version or "")
    check(match is not None, f"not a version name: {version!r}")
    return int(match.group(1))


# ---- the suite ------------------------------------------------------------------------------

class Suite:
    def __init__(self):
        self.timings: list[tuple[str, float]] = []
        self.started = time.monotonic()
        self.engine: Engine | None = None
        self.port = 0
        self.hostnames: dict[str, str] = {}   # container id -> hostname (= X-Served-By)
        self.warnings: list[str] = []

    def step(self, name: str, function, *args):
        log(f"-- {name}")
        t0 = time.monotonic()
        result = function(*args)
        seconds = time.monotonic() - t0
        self.timings.append((name, seconds))
        log(f"   ok: {name} ({seconds:.1f} s)")
        return result

    # steps

    def prepare(self) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        for old in LOG_DIR.glob("*.log"):
            old.unlink()
        kind = choose_engine()
        self.port = choose_port()
        env_file = LOG_DIR / "e2e.env"
        env_file.touch(mode=0o600)
        env_file.chmod(0o600)
        env_file.write_text("\n".join([
            f"COMPOSE_PROJECT_NAME={PROJECT}",
            f"DATA_PRESET={PRESET}",
            f"RECSYS_HTTP_PORT={self.port}",
            "RECSYS_IMAGE_PREFIX=recsys",
            "RECSYS_TAG=e2e",
            "INFERENCE_WORKERS=2",
            # The suite's request loops all come from one address, unpaced (over 1,500 requests/s
            # here): above nginx's default per-client rate, which would answer 429. The per-client
            # limit and load shedding have their own tests (tests/stack/test_nginx_config.py).
            "NGINX_CLIENT_RATE=100000",
            "NGINX_CLIENT_BURST=100000",
            "",
        ]))
        env = {k: v for k, v in os.environ.items() if k not in compose_variables()}
        if kind == "podman":
            env["BUILDAH_FORMAT"] = "docker"   # keep HEALTHCHECK and STOPSIGNAL in the image
            # No intermediate images: buildah never reuses layers built on the rig's imported
            # stand-in images (their config lists the tarball's digest, not the layer's), so
            # kept layers would only pile up, about 1.5 GB per run.
            env["BUILDAH_LAYERS"] = "false"
        self.engine = Engine(kind, env_file, env)
        self.volumes_before = set(self.engine.docker("volume", "ls", "-q").split())
        version = run([kind, "--version"]).stdout.strip()
        tool = run(["docker", "compose", "version"] if kind == "docker" else ["podman-compose", "--version"]).stdout.strip().splitlines()[-1]
        log(f"engine: {version}; {tool}; project {PROJECT}; nginx on 127.0.0.1:{self.port}; preset {PRESET}")
        created = redis_acl.write_secrets(SECRETS)
        log(f"Redis secrets in {SECRETS.relative_to(ROOT)}/: "
            + (f"created {', '.join(p.name for p in created)}" if created else "kept (made earlier)"))
        self.redis_port_was_free = port_is_free(6379)

    def clean_leftovers(self) -> None:
        before = self.engine.leftovers()
        if before:
            log(f"   left by an earlier run: {before}")
        self.engine.clean()
        remaining = self.engine.leftovers()
        check(not remaining, f"could not remove an earlier run's leftovers: {remaining}")

    def build(self) -> None:
        e = self.engine
        images = ("recsys-inference:e2e", "recsys-trainer:e2e")
        image_id = lambda image: e.docker("image", "inspect", "-f", "{{.Id}}", image, check_rc=False).strip()
        before = {image: image_id(image) for image in images}
        # Services named: podman-compose 1.6 otherwise builds an image once per replica.
        e.compose("build", "trainer", "inference", timeout=1200, log_to=LOG_DIR / "build.log")
        for image, old in before.items():
            new = image_id(image)
            check(bool(new), f"the build did not produce {image}")
            if old and old != new:   # the previous run's image, untagged now
                e.docker("rmi", old, check_rc=False)

    def check_images(self) -> None:
        e = self.engine
        size = lambda image: int(e.docker("image", "inspect", "-f", "{{.Size}}", image).strip())
        base = size("python:3.11-slim")
        lines = [f"python:3.11-slim (base) {base / 1e6:.0f} MB"]
        for name in ("inference", "trainer"):
            image = f"recsys-{name}:e2e"
            total = size(image)
            lines.append(f"{image} {total / 1e6:.0f} MB ({(total - base) / 1e6:.0f} MB above the base)")
            user = e.docker("image", "inspect", "-f", "{{.Config.User}}", image).strip()
            check(user not in ("", "root", "0") and not user.startswith(("root:", "0:")), f"{image} runs as {user!r}")
        log("   image sizes: " + "; ".join(lines))
        health = e.docker("image", "inspect", "-f", "{{json .Config.Healthcheck}}", "recsys-inference:e2e")
        check("/readyz" in health, f"recsys-inference:e2e has no HEALTHCHECK on /readyz: {health.strip()}")
        out = e.docker("run", "--rm", "--network", "none", "recsys-inference:e2e", "python", "-c",
                       "import importlib.util as u; print([m for m in ('lightfm', 'scipy', 'pandas', 'pyarrow', 'trainer') if u.find_spec(m)])").strip()
        check(out == "[]", f"recsys-inference:e2e carries trainer-only packages: {out}")
        out = e.docker("run", "--rm", "--network", "none", "recsys-trainer:e2e", "sh", "-c",
                       "command -v gcc cc || echo no-compiler; python -c 'import lightfm._lightfm_fast_openmp' && echo lightfm-openmp-ok; "
                       "trainer --help >/dev/null && echo cli-ok").split()
        check(out == ["no-compiler", "lightfm-openmp-ok", "cli-ok"], f"recsys-trainer:e2e: compiler absent, lightfm with OpenMP, trainer CLI? {out}")

    def up(self) -> None:
        self.engine.compose("up", "-d", "--scale", "inference=3", timeout=300, log_to=LOG_DIR / "up.log")
        for service, count in (("redis", 1), ("trainer", 1), ("inference", 3), ("nginx", 1)):
            running = self.engine.containers(service)
            check(len(running) == count, f"{len(running)} running {service} containers, expected {count}")

    def remember_hostnames(self) -> list[str]:
        replicas = self.engine.containers("inference")
        for container in replicas:
            if container not in self.hostnames:
                self.hostnames[container] = self.engine.inspect(container, "{{.Config.Hostname}}")
        return replicas

    def wait_ready(self, timeout: float = 240) -> None:
        replicas = self.remember_hostnames()
        deadline = time.time() + timeout
        results = probe_all(self.engine, replicas, "ready", "-", deadline)
        not_ready = {self.hostnames[c]: r for c, r in results.items() if not r.get("done")}
        check(not not_ready, f"replicas not ready after {timeout:.0f} s: {not_ready}")
        versions = {r["ready"] for r in results.values()}
        check(len(versions) == 1, f"replicas serve different versions: {versions}")
        while time.time() < deadline:
            try:
                status, _, body = get(self.port, "/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            raise SuiteFailure(f"nginx on :{self.port} never answered /readyz with 200")
        log(f"   {len(replicas)} replicas ready, each worker serving {versions.pop()}")

    def redis_locked_down(self) -> None:
        e = self.engine
        redis = e.containers("redis")[0]
        trainer = e.containers("trainer")[0]
        passwords = [redis_acl.read_password(SECRETS / name) for name in redis_acl.SECRET_FILES]
        # No published port, and nothing on the host's Redis port.
        # (podman lists the image's EXPOSE with a null binding: published means a host binding.)
        bindings = json.loads(e.inspect(redis, "{{json .HostConfig.PortBindings}}") or "null") or {}
        published = {port: hosts for port, hosts in bindings.items() if hosts}
        check(not published, f"redis publishes ports: {published}")
        if self.redis_port_was_free:
            try:
                socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
                raise SuiteFailure("something answers on the host's 127.0.0.1:6379 after `up`: redis is published")
            except OSError:
                pass
        # No password in what `inspect` shows of any container (environment, command, mounts).
        for container in e.containers(running_only=False):
            dump = e.docker("inspect", container)
            leaked = [n for n, pw in zip(redis_acl.SECRET_FILES, passwords) if pw in dump]
            check(not leaked, f"`inspect` of {e.inspect(container, '{{.Name}}')} shows the password of {leaked}")
        # Inside the network, as the services log in: the ACL refuses what they must not do.
        found = json.loads(e.exec(trainer, "python", "-c", REDIS_PROBE).strip().splitlines()[-1])
        check(found.pop("user") == "recsys" and found.pop("current"), f"the trainer's login: {found}")
        check(found.pop("no login").startswith("AuthenticationError"), "Redis answered a client that did not log in")
        allowed = {command: verdict for command, verdict in found.items() if not verdict.startswith("NoPermissionError")
                   and not (command == "DEBUG SLEEP" and "DEBUG command not allowed" in verdict)}
        check(not allowed, f"the services' user may run: {allowed}")
        # In the redis container: redis-cli as the services' user and as the admin (the health check).
        script = ('REDISCLI_AUTH=$(cat /run/secrets/redis_password) redis-cli --no-auth-warning --user recsys FLUSHALL; '
                  'REDISCLI_AUTH=$(cat /run/secrets/redis_password) redis-cli --no-auth-warning --user recsys CONFIG GET maxmemory; '
                  'sh /usr/local/etc/recsys-redis/cli.sh --no-auth-warning ping')
        out = [line for line in e.exec(redis, "sh", "-c", script).splitlines() if line.strip()]
        check(len(out) >= 3 and "NOPERM" in out[0] and "NOPERM" in out[1] and out[2].strip() == "PONG",
              f"redis-cli in the redis container: {out}")
        # From the host, the bridge address is routed (as under Docker on Linux); Redis still wants a login.
        address = e.inspect(redis, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").split()
        host_view = "no address"
        if address:
            try:
                with socket.create_connection((address[0], 6379), timeout=2) as sock:
                    sock.sendall(b"PING\r\n")
                    sock.settimeout(2)
                    reply = sock.recv(200).decode(errors="replace").strip()
                check(reply.startswith("-NOAUTH"), f"redis answered an anonymous PING from the host with {reply!r}")
                host_view = f"{address[0]}:6379 routed from the host, anonymous PING -> {reply[:30]!r}"
            except OSError as error:
                host_view = f"{address[0]}:6379 not reachable from the host ({type(error).__name__})"
        log(f"   redis: no published port; no password in any inspect; user recsys refused {len(found)} commands/keys "
            f"({', '.join(sorted(found))}); no login refused; admin PONG; {host_view}")

    def traffic(self) -> None:
        users = list(range(1, 55)) + [0, 299, 300, 5000, 999999, 123456789012]
        outcomes = [recommend(self.port, user) for user in users]
        bad = [o for o in outcomes if not o.ok]
        check(len(outcomes) == 60 and not bad, f"{len(bad)} of 60 requests failed: {[o.problem for o in bad[:5]]}")
        served = {o.served_by for o in outcomes}
        counts = {name: sum(o.served_by == name for o in outcomes) for name in sorted(served)}
        check(len(served) >= 3, f"only {len(served)} distinct X-Served-By: {counts}")
        unknown = served - set(self.hostnames.values())
        check(not unknown, f"X-Served-By names no replica container: {unknown}")
        log(f"   60/60 valid; X-Served-By {counts}; {latency_summary(outcomes)}")

    def scale_up(self) -> None:
        e = self.engine
        nginx = e.containers("nginx")[0]
        nginx_before = (nginx, e.inspect(nginx, "{{.State.StartedAt}}"), nginx_processes(e, nginx))
        old = set(self.remember_hostnames())
        # A paced loop (about 100 requests/s per client): the suite's own load should not be what
        # slows the new replica's start on 2 shared cores.
        with RequestLoop(self.port, pause=0.01) as loop:
            time.sleep(0.5)
            t0 = time.time()
            e.compose("up", "-d", "--no-recreate", "--scale", "inference=4", timeout=300, log_to=LOG_DIR / "scale.log")
            t_up = time.time()   # the new container runs: from here on it is nginx's business
            new = [c for c in self.remember_hostnames() if c not in old]
            check(len(new) == 1, f"expected one new inference container, found {len(new)}")
            name = self.hostnames[new[0]]
            first = None
            while time.time() < t_up + 10 and first is None:
                first = next((o for o in list(loop.outcomes) if o.ok and o.served_by == name), None)
                time.sleep(0.05)
            time.sleep(1)
        check(first is not None, f"the new replica {name} answered no request through nginx within 10 s of its start")
        after = (nginx, e.inspect(nginx, "{{.State.StartedAt}}"), nginx_processes(e, nginx))
        check(e.containers("nginx") == [nginx] and after == nginx_before,
              f"nginx was restarted or reloaded: before {nginx_before}, after {after}")
        after_first = first.started + first.seconds
        failures = loop.failures()
        log(f"   new replica {name}: first answer through nginx {after_first - t_up:.2f} s after its container started "
            f"({after_first - t0:.2f} s after the scale command, which took {t_up - t0:.2f} s); nginx processes unchanged "
            f"{after[2]}; loop: {latency_summary(loop.outcomes)}, {len(failures)} failed")
        if failures:
            # Not an acceptance point of this step, and not caused by the deployment: gunicorn's
            # master listens before its workers accept, nginx connects to the new replica in that
            # window and gives up after proxy_read_timeout (700 ms) without a retry (504).
            message = f"{len(failures)} requests failed while scaling up: {[f.problem for f in failures[:3]]}"
            if os.environ.get("E2E_STRICT") == "1":
                raise SuiteFailure(message)
            self.warnings.append(message)
            log(f"   WARNING: {message} (E2E_STRICT=1 makes this fail)")
            self.show_nginx_errors()

    def stop_one(self) -> None:
        e = self.engine
        replicas = self.remember_hostnames()
        victim = replicas[0]
        name = self.hostnames[victim]
        with RequestLoop(self.port, clients=3) as loop:
            time.sleep(1.5)
            t0 = time.time()
            e.docker("stop", victim, timeout=60)
            t_stopped = time.time()
            time.sleep(3)
        failures = loop.failures()
        check(not failures, f"{len(failures)} of {len(loop.outcomes)} requests failed around the stop: {[f.problem for f in failures[:5]]}")
        late = [o for o in loop.outcomes if o.started > t_stopped + 0.1 and o.served_by == name]
        check(not late, f"{len(late)} requests were answered by the stopped replica {name}")
        check(len(e.containers("inference")) == len(replicas) - 1, "the stopped replica is still running")
        log(f"   stopped {name} (stop took {t_stopped - t0:.1f} s) during {latency_summary(loop.outcomes)}, 0 failed")

    def kill_one(self) -> None:
        """SIGKILL to a replica's main process (gunicorn's master, the container's PID 1) from the
        host: inside its own PID namespace the kernel ignores SIGKILL to PID 1."""
        e = self.engine
        replicas = self.remember_hostnames()
        check(len(replicas) == 3, f"{len(replicas)} replicas running before the kill, expected 3")
        victim = replicas[-1]
        name = self.hostnames[victim]
        pid = int(e.inspect(victim, "{{.State.Pid}}"))
        restarts = int(e.inspect(victim, "{{.RestartCount}}") or 0)
        check(pid > 1 and Path(f"/proc/{pid}").exists(),
              f"the host does not see {name}'s process {pid} (an engine in a VM?): cannot kill it from here")
        first = None
        with RequestLoop(self.port, clients=3) as loop:
            time.sleep(1.5)
            t_kill = time.time()
            os.kill(pid, signal.SIGKILL)
            new_pid, state = 0, ""
            while time.time() < t_kill + 60:
                state = e.inspect(victim, "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}")
                status, now_pid, count = (state.split() + ["", "", ""])[:3]
                if status == "running" and now_pid.isdigit() and int(now_pid) not in (0, pid):
                    new_pid, restarts_after = int(now_pid), int(count or 0)
                    break
                time.sleep(0.1)
            check(new_pid > 0, f"{name} was not restarted within 60 s of the kill (state: {state})")
            t_restarted = time.time()
            while time.time() < t_restarted + 60 and first is None:
                first = next((o for o in list(loop.outcomes) if o.ok and o.served_by == name and o.started > t_restarted), None)
                time.sleep(0.05)
            time.sleep(1)
        check(first is not None, f"{name} restarted (pid {new_pid}) but answered no request through nginx within 60 s")
        check(restarts_after > restarts, f"{name}'s restart count did not grow: {restarts} -> {restarts_after}")
        failures = loop.failures()
        check(not failures, f"{len(failures)} of {len(loop.outcomes)} requests failed around the kill: {[f.problem for f in failures[:5]]}")
        during = [o for o in loop.outcomes if t_kill <= o.started < first.started]
        served = {n: sum(o.served_by == n for o in during) for n in sorted({o.served_by for o in during})}
        after = sum(o.served_by == name for o in loop.outcomes if o.started >= first.started)
        log(f"   killed {name} (host pid {pid}, SIGKILL): restarted by the restart policy after {t_restarted - t_kill:.1f} s "
            f"(pid {new_pid}, restart count {restarts} -> {restarts_after}), answering through nginx again "
            f"{first.started + first.seconds - t_kill:.1f} s after the kill; {len(during)} requests meanwhile, served by {served}; "
            f"{after} answered by {name} afterwards; loop: {latency_summary(loop.outcomes)}, 0 failed")

    def publish(self) -> None:
        e = self.engine
        replicas = self.remember_hostnames()
        trainer = e.containers("trainer")[0]
        status, headers, current = get(self.port, "/readyz")
        check(status == 200, f"/readyz through nginx: {status}")
        old = version_number(current)
        with RequestLoop(self.port, pause=0.005) as loop:
            # Probes run first and watch their own replica every 50 ms; each reports when all of
            # its workers serve one version other than the old one.
            results: dict[str, dict] = {}
            watcher = threading.Thread(target=lambda: results.update(probe_all(e, replicas, "changed", str(old), time.time() + 40)))
            watcher.start()
            time.sleep(2.0)   # let the probes' `exec` start (a late probe only overstates the lag)
            # The container's clock brackets the publish (same kernel clock as the probes').
            script = ('date +"t0 %s.%N"; trainer publish --model-dir "$MODEL_DIR" --force; rc=$?; '
                      'date +"t1 %s.%N"; exit $rc')
            out = e.exec(trainer, "sh", "-c", script)
            watcher.join()
            time.sleep(0.5)
        stamps = dict(line.split() for line in out.splitlines() if line.startswith(("t0 ", "t1 ")))
        t0, t1 = float(stamps["t0"]), float(stamps["t1"])
        match = re.search(r"published (v\d+-\w+)", out)
        check(match is not None, f"`trainer publish` said: {out.strip()}")
        new_version = match.group(1)
        lags = {}
        for container, result in results.items():
            name = self.hostnames[container]
            check(result.get("done"), f"replica {name} did not swap to a new version: {result}")
            nums = set(result["workers"].values())
            check(nums == {version_number(new_version)}, f"replica {name} workers serve {result['workers']}, expected {new_version}")
            lags[name] = result["at"] - t0
        # Upper bound: counted from the start of `trainer publish` (it loads and uploads the
        # model first), not from the moment the pointer moved, which is later.
        worst = max(lags.values())
        check(worst <= 5.0, f"slowest replica served {new_version} {worst:.2f} s after the publish began: {lags}")
        failures = loop.failures()
        check(not failures, f"{len(failures)} requests failed during the swap: {[f.problem for f in failures[:5]]}")
        tail = [recommend(self.port, user) for user in range(1, 41)]
        stale = [o.version for o in tail if o.version != new_version or not o.ok]
        check(not stale, f"after the swap nginx still returned {stale[:5]}")
        last_old = max((o.started for o in loop.outcomes if o.version and o.version != new_version), default=t0)
        log(f"   `trainer publish` ran {t1 - t0:.2f} s and made {new_version} current; every worker of {len(lags)} replicas "
            f"served it within {', '.join(f'{n} {lag:.2f} s' for n, lag in sorted(lags.items()))} of the publish's start "
            f"({worst - (t1 - t0):+.2f} s from its end); last old answer through nginx {last_old - t1:+.2f} s from its end; "
            f"loop: {latency_summary(loop.outcomes)}, 0 failed")

    def down(self) -> None:
        self.engine.compose("down", "--remove-orphans", "-v", timeout=300, log_to=LOG_DIR / "down.log")
        remaining = self.engine.leftovers()
        check(not remaining, f"`down -v` left behind: {remaining}")
        anonymous = set(self.engine.docker("volume", "ls", "-q").split()) - self.volumes_before
        check(not anonymous, f"volumes created during the run are left (anonymous volumes?): {sorted(anonymous)}")

    # failure handling

    def show_nginx_errors(self) -> None:
        """nginx's lines about failed requests (errors, and access lines with a 5xx status)."""
        try:
            nginx = self.engine.containers("nginx", running_only=False)[0]
            out = run([self.engine.cli, "logs", nginx], check_rc=False)
            lines = [l for l in (out.stdout + out.stderr).splitlines()
                     if ("[error]" in l and "could not be resolved" not in l) or re.search(r'" 5\d\d ', l)]
            for line in lines[-12:]:
                print(f"   nginx: {line[:300]}", flush=True)
        except Exception as error:  # diagnostics are a courtesy
            print(f"(could not read nginx's log: {error})")

    def dump_logs(self) -> None:
        if self.engine is None:
            return
        try:
            for container in self.engine.containers(running_only=False):
                name = self.engine.inspect(container, "{{.Name}}").lstrip("/")
                out = run([self.engine.cli, "logs", container], check_rc=False)
                path = LOG_DIR / f"container-{name}.log"
                path.write_text(out.stdout + out.stderr)
                tail = (out.stdout + out.stderr).strip().splitlines()[-6:]
                print(f"--- {name} (last lines; all in {path})\n" + "\n".join(tail), flush=True)
            self.show_nginx_errors()
        except Exception as error:  # logs are a courtesy
            print(f"(could not collect container logs: {error})")

    def main(self) -> int:
        ok = False
        try:
            self.step("engine", self.prepare)
            self.step("clean leftovers", self.clean_leftovers)
            self.step("build", self.build)
            self.step("image checks", self.check_images)
            self.step("up --scale inference=3", self.up)
            self.step("wait for readiness", self.wait_ready)
            self.step("redis locked down (ACL, no port)", self.redis_locked_down)
            self.step("60 requests through nginx", self.traffic)
            self.step("scale to 4 (no nginx reload)", self.scale_up)
            self.step("stop a replica under load", self.stop_one)
            self.step("kill -9 a replica under load", self.kill_one)
            self.step("publish a new version", self.publish)
            self.step("down -v", self.down)
            total = time.monotonic() - self.started
            check(total <= SUITE_BUDGET, f"suite took {total:.0f} s, budget {SUITE_BUDGET} s")
            ok = True
        except (SuiteFailure, subprocess.TimeoutExpired) as error:
            print(f"\nFAILED: {error}", flush=True)
        except KeyboardInterrupt:
            print("\ninterrupted", flush=True)
        finally:
            if not ok:
                self.dump_logs()
                if self.engine is not None and os.environ.get("E2E_KEEP") != "1":
                    log("cleaning up")
                    self.engine.clean()
            self.report(ok)
        return 0 if ok else 1

    def report(self, ok: bool) -> None:
        total = time.monotonic() - self.started
        print("\ncontainer suite timings:")
        for name, seconds in self.timings:
            print(f"  {name:<34} {seconds:7.1f} s")
        print(f"  {'total':<34} {total:7.1f} s  (budget {SUITE_BUDGET} s)  {'PASSED' if ok else 'FAILED'}", flush=True)
        for warning in self.warnings:
            print(f"  warning: {warning}", flush=True)


if __name__ == "__main__":
    sys.exit(Suite().main())
