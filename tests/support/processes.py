"""Real processes for tests: redis-server, gunicorn, nginx on loopback ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from contextlib import closing
from pathlib import Path

from scripts import redis_acl

ROOT = Path(__file__).resolve().parents[2]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc), parents first."""
    try:
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return [pid]
    return [pid] + [p for kid in kids for p in process_tree(kid)]


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if not found:
        raise RuntimeError("redis-server not installed: run `make install`")
    return found


class RedisServer:
    """A throwaway redis-server on a free loopback port with the users of redis/users.acl (rendered by
    scripts/redis_acl.py, as `make up` does): the services log in as the service user (`env`,
    `settings()`), confined to `prefixes`; the harness sets up and inspects as the admin (`client()`)."""

    # Every WEIGHTS_PREFIX the suite's services and benchmarks use (`test-*`: one per inference test).
    PREFIXES = ("recsys", "t", "gate", "cli", "svc", "gen", "outage", "test-*", "bench")

    def __init__(self, workdir: Path, password: str = "test-password", port: int | None = None,
                 admin_password: str = "test-admin-password", prefixes: tuple[str, ...] = PREFIXES):
        self.workdir = Path(workdir)
        self.password = password
        self.admin_password = admin_password
        self.prefixes = tuple(prefixes)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def username(self) -> str:
        return redis_acl.SERVICE_USER

    @property
    def env(self) -> dict[str, str]:
        """What a service process needs to log in as the service user."""
        return {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.port), "REDIS_USERNAME": self.username,
                "REDIS_PASSWORD": self.password}

    def settings(self, prefix: str = "recsys"):
        from common.redisconf import RedisSettings

        return RedisSettings(port=self.port, username=self.username, password=self.password, prefix=prefix)

    def start(self) -> "RedisServer":
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "users.conf"
        conf.touch(mode=0o600)
        conf.write_text(redis_acl.render_users(self.password, self.admin_password, self.prefixes))
        self.proc = subprocess.Popen(
            [redis_server_binary(), str(conf), "--port", str(self.port), "--bind", "127.0.0.1",
             "--save", "", "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port, proc=self.proc)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None

    def client(self):
        """An admin client: for the harness's own setup and inspection (FLUSHALL, any key)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, username=redis_acl.ADMIN_USER, password=self.admin_password)

    def service_client(self):
        """A client as the services log in (the service user)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, username=self.username, password=self.password)
