"""Redis connection settings, read from the environment in one place.

REDIS_URL wins when set (``redis://[:password@]host:port/db``); otherwise REDIS_HOST,
REDIS_PORT, REDIS_DB and REDIS_PASSWORD are used. WEIGHTS_PREFIX namespaces every key
the weight cache writes, so several deployments can share one Redis.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from common.envconfig import env_value


class RedisUnavailable(RuntimeError):
    """Redis could not be reached or refused us; the message is one line for the operator."""


@dataclass(frozen=True)
class RedisSettings:
    host: str = "127.0.0.1"
    port: int = 6379
    db: int = 0
    password: str | None = None
    url: str | None = None
    prefix: str = "recsys"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "RedisSettings":
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("REDIS_HOST", cls.host),
            port=env_value(env, "REDIS_PORT", cls.port, int),
            db=env_value(env, "REDIS_DB", cls.db, int),
            password=env.get("REDIS_PASSWORD") or None,
            url=env.get("REDIS_URL") or None,
            prefix=env.get("WEIGHTS_PREFIX", cls.prefix),
        )

    def describe(self) -> str:
        """Where we connect, without the password."""
        if self.url:
            return self.url.split("@")[-1]
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
            return redis.Redis.from_url(self.url, **common)
        return redis.Redis(host=self.host, port=self.port, db=self.db, password=self.password, **common)


def explain(error: Exception, settings: RedisSettings) -> str:
    """One line that says what went wrong with Redis and what to check."""
    where = settings.describe()
    if isinstance(error, redis.AuthenticationError) or "WRONGPASS" in str(error) or "NOAUTH" in str(error):
        return f"Redis at {where} refused the password: check REDIS_PASSWORD"
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
