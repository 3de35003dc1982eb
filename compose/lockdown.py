"""Redis locked down: no published port, no password in any container's `inspect`, the services'
user refused what it must not do (inside the compose network, as the services log in), no login
no access, the admin's health check answered; from the host, a routed bridge address still wants a
login."""

from __future__ import annotations

import json
import socket

from harness import redis_acl

from compose.checks import SuiteFailure, check
from compose.engine import Engine
from compose.probes import probe_redis, redis_cli
from compose.report import titled
from compose.stack import Stack


def no_published_port(engine: Engine, redis: str, host_port_was_free: bool) -> None:
    # podman lists the image's EXPOSE with a null binding: published means a host binding.
    bindings = json.loads(engine.inspect(redis, "{{json .HostConfig.PortBindings}}") or "null") or {}
    published = {port: hosts for port, hosts in bindings.items() if hosts}
    check(not published, f"redis publishes ports: {published}")
    if host_port_was_free:
        try:
            socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
        except OSError:
            return
        raise SuiteFailure("something answers on the host's 127.0.0.1:6379 after `up`: redis is published")


def no_password_in_inspect(engine: Engine) -> None:
    """Environment, command, mounts: nothing `inspect` shows of any container holds a password."""
    passwords = {name: redis_acl.read_password(redis_acl.COMPOSE_SECRETS / name) for name in redis_acl.SECRET_FILES}
    for container in engine.containers(running_only=False):
        dump = engine.docker("inspect", container)
        leaked = [name for name, password in passwords.items() if password in dump]
        check(not leaked, f"`inspect` of {engine.inspect(container, '{{.Name}}')} shows the password of {leaked}")


def services_user_refused(engine: Engine, trainer: str) -> list[str]:
    """The commands and keys the services' user was refused (all that REDIS_PROBE tries)."""
    found = probe_redis(engine, trainer)
    check(found.pop("user") == "recsys" and found.pop("current"), f"the trainer's login: {found}")
    check(found.pop("no login").startswith("AuthenticationError"), "Redis answered a client that did not log in")
    allowed = {command: verdict for command, verdict in found.items() if not verdict.startswith("NoPermissionError")
               and not (command == "DEBUG SLEEP" and "DEBUG command not allowed" in verdict)}
    check(not allowed, f"the services' user may run: {allowed}")
    return sorted(found)


def anonymous_ping_from_host(engine: Engine, redis: str) -> str:
    """The bridge address is routed from the host (as under Docker on Linux); Redis still wants a login."""
    address = engine.inspect(redis, "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}").split()
    if not address:
        return "no address"
    try:
        with socket.create_connection((address[0], 6379), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            sock.settimeout(2)
            reply = sock.recv(200).decode(errors="replace").strip()
    except OSError as error:
        return f"{address[0]}:6379 not reachable from the host ({type(error).__name__})"
    check(reply.startswith("-NOAUTH"), f"redis answered an anonymous PING from the host with {reply!r}")
    return f"{address[0]}:6379 routed from the host, anonymous PING -> {reply[:30]!r}"


@titled("redis locked down (ACL, no port)")
def redis_locked_down(stack: Stack) -> str:
    e = stack.engine
    redis, trainer = e.container("redis"), e.container("trainer")
    no_published_port(e, redis, stack.redis_port_was_free)
    no_password_in_inspect(e)
    refused = services_user_refused(e, trainer)
    out = redis_cli(e, redis)
    check(len(out) >= 3 and "NOPERM" in out[0] and "NOPERM" in out[1] and out[2].strip() == "PONG",
          f"redis-cli in the redis container: {out}")
    host_view = anonymous_ping_from_host(e, redis)
    return (f"no published port; no password in any inspect; user recsys refused {len(refused)} commands/keys "
            f"({', '.join(refused)}); no login refused; admin PONG; {host_view}")
