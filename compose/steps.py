"""The suite's steps around the traffic: engine and secrets, leftovers of an earlier run, build,
image checks, up, readiness, down. Each takes what it needs and returns its one-line result."""

from __future__ import annotations

import json
import time
from typing import Mapping

import yaml

from harness import redis_acl
from harness.paths import shown
from harness.ports import free_port, port_in_use
from harness.waiting import wait_until

from compose.checks import check
from compose.engine import Engine
from compose.probes import probe_replicas
from compose.report import log, titled
from compose.settings import Settings
from compose.stack import Stack

DEFAULT_PORT = 8082
ALL_INTERFACES = "0.0.0.0"  # nosec B104  # probe only: is the port free on every interface nginx will bind


def choose_port(settings: Settings, wanted: int = DEFAULT_PORT) -> int:
    """E2E_PORT, else `wanted` while it is free, else a free port."""
    if settings.port is not None:
        check(not port_in_use(settings.port, ALL_INTERFACES), f"E2E_PORT={settings.port} is in use")
        return settings.port
    if not port_in_use(wanted, ALL_INTERFACES):
        return wanted
    port = free_port()
    log(f"port {wanted} is taken (the local stack?): using {port} (set E2E_PORT to choose)")
    return port


@titled("engine and secrets")
def prepare(settings: Settings, environ: Mapping[str, str]) -> Stack:
    """The engine (the container rig first, under podman), nginx's port, the Redis secrets."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    for old in settings.log_dir.glob("*.log"):
        old.unlink()
    port = choose_port(settings)
    engine = Engine.start(settings, settings.compose_values(port), environ)
    stack = Stack(engine, port, volumes_before=engine.volumes(), redis_port_was_free=not port_in_use(6379, ALL_INTERFACES))
    log(f"engine: {engine.versions()}; project {settings.project}; nginx on 127.0.0.1:{port}; preset {settings.preset}")
    created = redis_acl.write_secrets(redis_acl.COMPOSE_SECRETS)
    log(f"Redis secrets in {shown(redis_acl.COMPOSE_SECRETS)}/: "
        + (f"created {', '.join(p.name for p in created)}" if created else "kept (made earlier)"))
    return stack


@titled("clean leftovers")
def clean_leftovers(stack: Stack) -> str:
    before = stack.engine.leftovers()
    stack.engine.clean()
    remaining = stack.engine.leftovers()
    check(not remaining, f"could not remove an earlier run's leftovers: {remaining}")
    return f"removed {before}" if before else "nothing left by an earlier run"


@titled("build")
def build(stack: Stack) -> str:
    e, s = stack.engine, stack.settings
    images = [s.image("inference"), s.image("trainer")]
    before = {image: e.image_id(image) for image in images}
    # Services named: podman-compose 1.6 otherwise builds an image once per replica.
    e.compose("build", "trainer", "inference", timeout=1200, log_to=s.log_dir / "build.log")
    for image, old in before.items():
        new = e.image_id(image)
        check(bool(new), f"the build did not produce {image}")
        if old and old != new:   # the previous run's image, untagged now
            e.docker("rmi", old, check_rc=False)
    return f"built {', '.join(images)}"


@titled("image checks")
def check_images(stack: Stack) -> str:
    e, s = stack.engine, stack.settings
    inference, trainer = s.image("inference"), s.image("trainer")

    def size(image: str) -> int:
        return int(e.docker("image", "inspect", "-f", "{{.Size}}", image).strip())

    base = size("python:3.11-slim")
    sizes = [f"python:3.11-slim (base) {base / 1e6:.0f} MB"]
    for image in (inference, trainer):
        total = size(image)
        sizes.append(f"{image} {total / 1e6:.0f} MB ({(total - base) / 1e6:.0f} MB above the base)")
        user = e.docker("image", "inspect", "-f", "{{.Config.User}}", image).strip()
        check(user not in ("", "root", "0") and not user.startswith(("root:", "0:")), f"{image} runs as {user!r}")
    log("   image sizes: " + "; ".join(sizes))
    health = e.docker("image", "inspect", "-f", "{{json .Config.Healthcheck}}", inference)
    check("/readyz" in health, f"{inference} has no HEALTHCHECK on /readyz: {health.strip()}")
    out = e.docker("run", "--rm", "--network", "none", inference, "python", "-c",
                   "import importlib.util as u; print([m for m in ('lightfm', 'scipy', 'pandas', 'pyarrow', 'trainer', "
                   "'ingest', 'simulator') if u.find_spec(m)])").strip()
    check(out == "[]", f"{inference} carries trainer-only packages: {out}")
    # The trainer image also runs the ingester and the simulator (compose.yaml): their packages,
    # the Kafka client with its bundled librdkafka, and both console scripts.
    found = e.docker("run", "--rm", "--network", "none", trainer, "sh", "-c",
                     "command -v gcc cc || echo no-compiler; python -c 'import lightfm._lightfm_fast_openmp' && echo lightfm-openmp-ok; "
                     "trainer --help >/dev/null && echo cli-ok; "
                     "python -c 'import confluent_kafka, ingest.main, simulator.main; confluent_kafka.libversion()' && echo kafka-ok; "
                     "command -v ingest >/dev/null && command -v simulator >/dev/null && echo scripts-ok").split()
    wanted = ["no-compiler", "lightfm-openmp-ok", "cli-ok", "kafka-ok", "scripts-ok"]
    check(found == wanted, f"{trainer}: compiler absent, lightfm with OpenMP, trainer CLI, ingest and simulator? {found}")
    return ("non-root users, HEALTHCHECK /readyz, no trainer packages in inference, no compiler in trainer, "
            "ingest and simulator (confluent-kafka) in trainer")


def container_env(engine: Engine, container: str) -> dict[str, str]:
    pairs = json.loads(engine.inspect(container, "{{json .Config.Env}}") or "[]") or []
    return dict(pair.split("=", 1) for pair in pairs if "=" in pair)


def override_env(settings: Settings) -> dict[str, dict[str, str]]:
    """The environment values e2e.override.yaml sets, per service."""
    override = yaml.safe_load(settings.override_file.read_text())["services"]
    return {service: {k: str(v) for k, v in spec.get("environment", {}).items()} for service, spec in override.items()}


def check_env(engine: Engine, service: str, values: dict[str, str]) -> None:
    """Every container of `service` has `values` in its environment."""
    for container in engine.containers(service, running_only=False):
        env = container_env(engine, container)
        wrong = {k: env.get(k) for k, v in values.items() if env.get(k) != v}
        check(not wrong, f"{service} container {container[:12]}: environment {wrong}, expected {values}")


@titled("up --scale inference=3")
def up(stack: Stack) -> str:
    e, s = stack.engine, stack.settings
    # Looked at again: the build takes minutes, and the port may have been taken meanwhile.
    port = choose_port(s, stack.port)
    if port != stack.port:
        stack.port = port
        e.set_values(s.compose_values(port))
    e.compose("up", "-d", "--scale", "inference=3", timeout=300, log_to=s.log_dir / "up.log")
    # The simulator is behind its profile: not started by a plain `up` (world.simulated_world starts it).
    counts = (("redis", 1), ("kafka", 1), ("trainer", 1), ("ingest", 1), ("inference", 3), ("nginx", 1))
    for service, count in (*counts, ("simulator", 0)):
        running = e.containers(service, running_only=False)
        check(len(running) == count, f"{len(running)} {service} containers, expected {count}")
        check(len(e.containers(service)) == count, f"not every {service} container is running")
    # Both files and the env file took effect: the override's environment values and the run's preset.
    wanted = {service: values for service, values in override_env(s).items() if e.containers(service, running_only=False)}
    wanted.setdefault("trainer", {})["DATA_PRESET"] = s.preset
    for service, values in wanted.items():
        check_env(e, service, values)
    return (f"nginx on :{stack.port}; {', '.join(f'{service} {count}' for service, count in counts)} running, "
            "no simulator (profile sim); " + "; ".join(
                f"{service} has {', '.join(f'{k}={v}' for k, v in values.items())}" for service, values in sorted(wanted.items())))


@titled("wait for readiness")
def wait_ready(stack: Stack, timeout: float = 240) -> str:
    """Every worker of every replica serves one version, and nginx's /readyz says so too."""
    replicas = stack.replicas()
    deadline = time.time() + timeout
    results = probe_replicas(stack.engine, replicas, "ready", "-", deadline)
    not_ready = {stack.hostnames[c]: r for c, r in results.items() if not r.get("done")}
    check(not not_ready, f"replicas not ready after {timeout:.0f} s: {not_ready}")
    versions = {r["ready"] for r in results.values()}
    check(len(versions) == 1, f"replicas serve different versions: {versions}")
    version = versions.pop()
    workers = {stack.hostnames[c]: len(r["workers"]) for c, r in results.items()}
    wrong = {stack.hostnames[c]: r["workers"] for c, r in results.items() if len(r["workers"]) != r["wanted"]}
    check(not wrong, f"replicas whose live workers are not WEB_CONCURRENCY: {wrong}")
    through_nginx = wait_until(stack.ready_version, max(1.0, deadline - time.time()),
                               f"nginx on :{stack.port} answering /readyz with 200")
    check(through_nginx == version, f"nginx's /readyz reports {through_nginx}, the replicas serve {version}")
    return f"{len(replicas)} replicas ready, workers {workers}, each serving {version}"


@titled("down -v")
def down(stack: Stack) -> str:
    e = stack.engine
    # Every profile named: the simulator's containers and volume too, whichever engine.
    e.compose(*e.every_profile(), "down", "--remove-orphans", "-v", timeout=300, log_to=stack.settings.log_dir / "down.log")
    remaining = e.leftovers()
    check(not remaining, f"`down -v` left behind: {remaining}")
    anonymous = e.volumes() - stack.volumes_before
    check(not anonymous, f"volumes created during the run are left (anonymous volumes?): {sorted(anonymous)}")
    return "no container, network or volume left"
