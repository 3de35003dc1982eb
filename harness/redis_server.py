"""redis-server as the stack runs it: the one config (users of redis/users.acl, loopback only),
for `make up`, the test fixtures and the benchmarks.

`redis_config()` renders redis.conf; `RedisServer` runs a throwaway one on a free port. The services
log in as the service user (`env`, `settings()`), confined to the production prefix and to the one
test rule `test-*` (every prefix a test uses starts with `test-`); the harness sets up and inspects
as the admin (`client()`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from harness import redis_acl
from harness.files import write_private
from harness.ports import free_port
from harness.processes import Process
from harness.waiting import wait_for_port

TEST_PREFIXES = ("recsys", "test-*")   # the services' default WEIGHTS_PREFIX, and every test's


def redis_binary() -> str:
    found = shutil.which("redis-server") or next(
        (c for c in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if os.access(c, os.X_OK)), None)
    if not found:
        raise RuntimeError("redis-server not installed: run `make install` (scripts/install-system-deps.sh)")
    return found


def redis_config(port: int, data_dir: Path, users: str, persistent: bool) -> str:
    """redis.conf for 127.0.0.1:`port` with the rendered `users`; append-only file in `data_dir`
    when `persistent` (the local stack), no persistence at all otherwise (throwaway servers)."""
    data_dir = Path(data_dir)
    persistence = ("appendonly yes\nappendfsync everysec\nsave 3600 1 300 100 60 10000\n" if persistent
                   else 'appendonly no\nsave ""\n')
    return f"""# Written by harness/redis_server.py; edits are overwritten.
bind 127.0.0.1
protected-mode yes
port {port}
{users.rstrip()}
daemonize no
supervised no
pidfile "{data_dir / 'redis.pid'}"
logfile ""
dir "{data_dir}"
{persistence}"""


class RedisServer:
    """A redis-server on a free loopback port in `workdir`, with the production users."""

    def __init__(self, workdir: Path, password: str = "test-password", port: int | None = None,  # nosec B107  # throwaway servers on loopback
                 admin_password: str = "test-admin-password", prefixes: tuple[str, ...] = TEST_PREFIXES,
                 persistent: bool = False):
        self.workdir = Path(workdir)
        self.password, self.admin_password = password, admin_password
        self.prefixes = tuple(prefixes)
        self.port = port or free_port()
        self.persistent = persistent
        self.process: Process | None = None

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
        conf = self.workdir / "redis.conf"
        users = redis_acl.render_users(self.password, self.admin_password, self.prefixes)
        write_private(conf, redis_config(self.port, self.workdir, users, self.persistent))
        self.process = Process("redis", [redis_binary(), str(conf)], dict(os.environ), self.workdir / "redis.log").start()
        wait_for_port(self.port, proc=self.process.proc)
        return self

    def stop(self) -> None:
        if self.process:
            self.process.kill(timeout=10)
        self.process = None

    def client(self):
        """An admin client: for the harness's own setup and inspection (FLUSHALL, any key)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, username=redis_acl.ADMIN_USER,
                           password=self.admin_password, socket_timeout=5)

    def service_client(self):
        """A client as the services log in (the service user)."""
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, username=self.username, password=self.password,
                           socket_timeout=5)
