"""Redis connection settings, read from the environment in one place.

REDIS_URL wins when set (``redis://[[user]:password@]host:port/db``) for where to connect, and
its own user and password win over the variables below; otherwise REDIS_HOST, REDIS_PORT and
REDIS_DB are used. REDIS_USERNAME is the ACL user (unset: Redis's ``default`` user;
redis/users.acl defines ``recsys`` for the services). The password comes from REDIS_PASSWORD_FILE
(a file such as a Docker secret, /run/secrets/redis_password; trailing newline stripped) or
REDIS_PASSWORD; when both are set, REDIS_PASSWORD_FILE wins. An unreadable or empty file is a
one-line error naming it. WEIGHTS_PREFIX namespaces every key the weight cache writes, so several
deployments can share one Redis (and an ACL can confine a user to ``P:*``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from common.envconfig import env_value


class RedisUnavailable(RuntimeError):
    """Redis could not be reached or refused us; the message is one line for the operator."""


class RedisConfigError(ValueError):
    """A Redis setting cannot be used (e.g. an unreadable password file); one line."""


def read_password_file(path: str) -> str:
    """The password in `path` without its trailing newline, or RedisConfigError naming the file."""
    try:
        with open(path, encoding="utf-8") as handle:
            password = handle.read().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else error.__class__.__name__
        raise RedisConfigError(f"REDIS_PASSWORD_FILE={path}: cannot read it ({reason})") from None
    if not password:
        raise RedisConfigError(f"REDIS_PASSWORD_FILE={path}: the file is empty")
    if "\n" in password or "\r" in password:
        raise RedisConfigError(f"REDIS_PASSWORD_FILE={path}: holds more than one line")
    return password


@dataclass(frozen=True)
class RedisSettings:
    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    password: str | None = None
    url: str | None = None
    prefix: str = "recsys"
    username: str | None = None
    password_source: str = "REDIS_PASSWORD"   # where the password came from, for error messages

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "RedisSettings":
        env = os.environ if environ is None else environ
        password, source = env.get("REDIS_PASSWORD") or None, "REDIS_PASSWORD"
        if env.get("REDIS_PASSWORD_FILE"):
            password = read_password_file(env["REDIS_PASSWORD_FILE"])
            source = f"REDIS_PASSWORD_FILE ({env['REDIS_PASSWORD_FILE']})"
        return cls(
            host=env.get("REDIS_HOST", cls.host),
            port=env_value(env, "REDIS_PORT", cls.port, int),
            db=env_value(env, "REDIS_DB", cls.db, int),
            password=password,
            url=env.get("REDIS_URL") or None,
            prefix=env.get("WEIGHTS_PREFIX", cls.prefix),
            username=env.get("REDIS_USERNAME") or None,
            password_source=source,
        )

    def _url_credentials(self) -> tuple[str | None, str | None]:
        from redis.connection import parse_url

        options = parse_url(self.url)
        return options.get("username") or None, options.get("password") or None

    @property
    def effective_username(self) -> str | None:
        """The user we log in as: REDIS_URL's user when it names one, else REDIS_USERNAME."""
        if self.url:
            return self._url_credentials()[0] or self.username
        return self.username

    @property
    def effective_password_source(self) -> str:
        if self.url and self._url_credentials()[1]:
            return "REDIS_URL"
        return self.password_source

    def describe(self) -> str:
        """Where we connect, without user or password."""
        if self.url:
            return self.url.split("://", 1)[-1].split("@")[-1]
        return f"{self.host}:{self.port}/{self.db}"

    def client(self, socket_timeout: float | None = 5.0, retries: int = 1, **kwargs) -> redis.Redis:
        """A client that fails fast: callers decide how long to keep trying."""
        common = dict(
            socket_timeout=socket_timeout,
            socket_connect_timeout=min(socket_timeout or 2.0, 2.0),
            health_check_interval=30,
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), retries),
            **kwargs,
        )
        if self.url:
            # The URL's own user and password win (redis-py lets URL options override keywords).
            return redis.Redis.from_url(self.url, username=self.username, password=self.password, **common)
        return redis.Redis(host=self.host, port=self.port, db=self.db, username=self.username,
                           password=self.password, **common)


_DENIED_COMMAND = re.compile(r"run the '([^']+)' command")


def explain(error: Exception, settings: RedisSettings, command: str | None = None) -> str:
    """One line that says what went wrong with Redis and what to check. `command`, when the
    caller knows it, is named in an ACL refusal that does not name it itself."""
    where = settings.describe()
    text = str(error)
    user = settings.effective_username
    source = settings.effective_password_source
    if "NOPERM" in text or isinstance(error, redis.exceptions.NoPermissionError):
        match = _DENIED_COMMAND.search(text)
        who = f"user {user!r}" if user else "the default user"
        if match or command:
            what = f"the command {(match.group(1) if match else command).upper()}"
        elif "channel" in text:
            what = f"a pub/sub channel outside its ACL channel patterns (WEIGHTS_PREFIX is {settings.prefix!r})"
        else:
            what = f"a key outside its ACL key patterns (WEIGHTS_PREFIX is {settings.prefix!r})"
        return f"Redis at {where}: the ACL denies {who} {what} (NOPERM; see redis/users.acl)"
    refused = isinstance(error, redis.AuthenticationError) or "WRONGPASS" in text or "NOAUTH" in text
    no_password = not (settings.password or (settings.url and settings._url_credentials()[1]))
    if refused and (no_password or "NOAUTH" in text or "authenticated" in text or "required" in text):
        # NOAUTH ("Authentication required", or redis-py's HELLO refused before a login)
        return (f"Redis at {where} requires a login: set REDIS_USERNAME and REDIS_PASSWORD_FILE "
                f"(or REDIS_PASSWORD)")
    if refused:
        if user:
            return f"Redis at {where} refused user {user!r} with the password from {source}: check REDIS_USERNAME and {source}"
        return (f"Redis at {where} refused the password: check {source} "
                f"(no REDIS_USERNAME: logging in as the default user, which an ACL may switch off)")
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError)):
        return f"Redis at {where} is unreachable ({error.__class__.__name__}: {error}); check REDIS_HOST/REDIS_PORT or REDIS_URL"
    return f"Redis at {where} failed: {error.__class__.__name__}: {error}"


def connect(settings: RedisSettings | None = None, socket_timeout: float | None = 5.0) -> redis.Redis:
    """A client that has answered PING, or RedisUnavailable with a one-line reason."""
    settings = settings or RedisSettings.from_env()
    client = settings.client(socket_timeout=socket_timeout)
    try:
        client.ping()
    except redis.RedisError as error:
        raise RedisUnavailable(explain(error, settings)) from None
    return client
