"""Redis users from redis/users.acl, and the password files they need.

    python -m harness.redis_acl secrets [DIR]      (make compose-secrets; DIR: compose/secrets)

`render_users()` turns the template into `user` directives for redis.conf (the local stack and the
tests); redis/entrypoint.sh does the same in the redis container. Passwords appear only as
`#<SHA-256>`. `write_secrets()` creates the password files compose.yaml mounts as secrets, once:
an existing file is never replaced. Standard library only.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Iterable

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "redis" / "users.acl"
COMPOSE_SECRETS = ROOT / "compose" / "secrets"
SERVICE_USER = "recsys"   # the user redis/users.acl gives the services (REDIS_USERNAME)
ADMIN_USER = "admin"      # the operators' user
EXPORTER_USER = "exporter"  # the monitoring's Redis exporter: INFO only
# Secret name -> (mode, who reads it). The service password is read by the non-root trainer and
# replicas through a bind mount that keeps the host file's mode (Docker and podman compose), hence
# 0644 inside a 0700 directory; the admin password only by root in the redis container.
# The exporter's password (read by the non-root exporter container) likewise 0644.
SECRET_FILES = {"redis_password": 0o644, "redis_admin_password": 0o600,  # nosec B105  # file names and modes, no password
                "redis_exporter_password": 0o644}
EXPORTER_SECRET_JSON = "redis_exporter_passwords.json"  # nosec B105  # a file name (derived from redis_exporter_password)
PREFIX = re.compile(r"[A-Za-z0-9._-]{1,64}")
PREFIX_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}\*?")   # the tests also allow `test-*`


class AclError(ValueError):
    pass


def check_prefix(prefix: str) -> str:
    """WEIGHTS_PREFIX as it may appear in an ACL key pattern (no glob characters)."""
    if not PREFIX.fullmatch(prefix):
        raise AclError(f"WEIGHTS_PREFIX={prefix!r}: use 1-64 letters, digits, '.', '_' or '-'")
    return prefix


def password_hash(password: str) -> str:
    """The ACL form of a password: `#` and its SHA-256, so the plain password is in no config file."""
    if not password or any(c.isspace() for c in password):
        raise AclError("a Redis password must be non-empty and contain no whitespace")
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def render_users(service_password: str, admin_password: str, prefixes: Iterable[str] = ("recsys",),
                 template: Path = TEMPLATE, exporter_password: str | None = None) -> str:
    """The template's `user` lines with hashed passwords and key/channel patterns for `prefixes`
    (one pattern per prefix for every token holding @PREFIX@); comments and blank lines dropped.
    Without `exporter_password` the exporter's user gets a random one nobody knows."""
    prefixes = list(prefixes)
    bad = [p for p in prefixes if not PREFIX_PATTERN.fullmatch(p)]
    if not prefixes or bad:
        raise AclError(f"key prefixes {bad or prefixes!r}: use letters, digits, '.', '_' or '-' (a final '*' at most)")
    values = {"@SERVICE_PASSWORD@": password_hash(service_password), "@ADMIN_PASSWORD@": password_hash(admin_password),
              "@EXPORTER_PASSWORD@": password_hash(exporter_password or secrets.token_urlsafe(32))}
    lines = []
    for line in template.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        tokens = []
        for token in line.split():
            if "@PREFIX@" in token:
                tokens += [token.replace("@PREFIX@", p) for p in prefixes]
            else:
                tokens.append(values.get(token, token))
        lines.append(" ".join(tokens))
    leftover = [t for line in lines for t in line.split() if t.startswith("@") and t.endswith("@")]
    if leftover:
        raise AclError(f"{template}: unknown placeholders {leftover}")
    return "\n".join(lines) + "\n"


def read_password(path: Path) -> str:
    """A password file's first line, as the services read REDIS_PASSWORD_FILE."""
    return path.read_text().rstrip("\r\n")


def write_secrets(directory: Path = COMPOSE_SECRETS) -> list[Path]:
    """Create the missing password files in `directory` (0700); return the ones created."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    created = []
    for name, mode in SECRET_FILES.items():
        path = directory / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        except FileExistsError:
            if not read_password(path):
                raise AclError(f"{path} is empty: delete it to get a new password") from None
            continue
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
        os.chmod(path, mode)   # whatever the umask
        created.append(path)
    # The exporter's password again, in the form redis_exporter reads (compose's redis-exporter).
    exporter_json = directory / EXPORTER_SECRET_JSON
    text = json.dumps({"redis://redis:6379": read_password(directory / "redis_exporter_password")}) + "\n"
    if not exporter_json.exists() or exporter_json.read_text() != text:
        exporter_json.write_text(text)
        os.chmod(exporter_json, 0o644)
    return created


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "secrets" or len(argv) > 2:
        print("usage: python -m harness.redis_acl secrets [DIR]   (default DIR: compose/secrets)", file=sys.stderr)
        return 2
    directory = Path(argv[1]) if len(argv) == 2 else COMPOSE_SECRETS
    try:
        created = write_secrets(directory)
    except (OSError, AclError) as error:
        print(f"redis_acl secrets: {error}", file=sys.stderr)
        return 1
    for name in SECRET_FILES:
        state = "created" if directory / name in created else "kept"
        print(f"{directory / name}: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
