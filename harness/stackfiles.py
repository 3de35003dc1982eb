"""The files a stack's programs need in its run directory, written the same way for `make up`, the
test fixtures and the benchmarks: the Redis passwords (0600), redis.conf with the users of
redis/users.acl, nginx's configuration (checked with `nginx -t`), `stack.env` (how tools reach
the stack, common/stackenv.py), and the monitoring's files (harness/monitoring.py).
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from common import stackenv
from harness import monitoring, redis_acl
from harness.nginx import render_local_config, traffic_limits
from harness.files import write_private
from harness.redis_server import redis_config
from harness.stackdef import StackError, StackSettings

PASSWORD_CHARS = re.compile(r"[A-Za-z0-9._~+=/:@-]{8,256}")


def password(path: Path, override: str | None = None) -> str:
    """The password in `path`: `override` (written there) when given, else the file's (created
    once, random, mode 0600)."""
    if override:
        if not PASSWORD_CHARS.fullmatch(override):
            raise StackError(f"the password for {path.name} must be 8-256 characters of letters, digits and ._~+=/:@-")
        write_private(path, override + "\n")
        return override
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        existing = path.read_text().strip()
        if not PASSWORD_CHARS.fullmatch(existing):
            raise StackError(f"{path} does not hold a usable password; delete it to get a new one") from None
        return existing
    generated = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(generated + "\n")
    return generated


def _text(path: Path) -> str | None:
    return path.read_text() if path.exists() else None


def write_all(s: StackSettings, service_password: str | None = None, admin_password: str | None = None,
              limits: dict[str, str] | None = None) -> dict[str, bool]:
    """Write every file of the stack's run directory; {"redis": changed, "nginx": changed, "monitoring": changed}.
    Passwords: the ones given (REDIS_PASSWORD / REDIS_ADMIN_PASSWORD for `make up`), else the run
    directory's own. `limits`: nginx's overload knobs (default: from the environment)."""
    for d in (s.run_dir, s.logs, s.redis_conf.parent, s.nginx_conf.parent, s.run_dir / "models"):
        d.mkdir(parents=True, exist_ok=True)
    service = password(s.password_file, service_password)
    admin = password(s.admin_password_file, admin_password)
    exporter = password(monitoring.exporter_password_file(s))
    users = redis_acl.render_users(service, admin, [s.prefix], exporter_password=exporter)
    redis_changed = write_private(s.redis_conf, redis_config(s.redis_port, s.redis_conf.parent, users, persistent=True))
    nginx_files = [s.nginx_conf, s.nginx_conf.with_name("recsys.conf")]
    before = [_text(p) for p in nginx_files]
    render_local_config(s.run_dir, s.port, s.replica_ports, s.status_port,
                        limits=limits if limits is not None else traffic_limits(replicas=s.replicas, workers=s.workers))
    stackenv.write(s.run_dir, s.service_env())
    monitoring_changed = monitoring.write(s, exporter)
    return {"redis": redis_changed, "nginx": [_text(p) for p in nginx_files] != before, "monitoring": monitoring_changed}
