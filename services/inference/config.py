"""Inference settings, read from the environment in one place."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from common.envconfig import env_value
from common.redisconf import RedisSettings
from inference import cachedir


@dataclass(frozen=True)
class InferenceConfig:
    redis: RedisSettings = field(default_factory=RedisSettings)
    poll_interval: float = 2.0            # MODEL_POLL_INTERVAL: seconds between looks at the pointer
    # MODEL_CACHE_DIR: where versions are written and mapped from; None (unset): a fresh private
    # directory in tmpfs. Owned by inference/cachedir.py (default, privacy check, cleanup).
    cache_dir: Path | None = None
    user_api_url: str | None = None       # USER_API_URL: the simulator's user API (GET {url}/user/<id>)
    user_api_timeout: float = 0.15        # USER_API_TIMEOUT seconds
    user_cache_ttl: int = 86400           # USER_CACHE_TTL seconds for cached user API answers in Redis
    replica_name: str = "inference"       # INFERENCE_REPLICA_NAME, sent as X-Served-By
    kafka_bootstrap: str | None = None    # KAFKA_BOOTSTRAP_SERVERS: where served records go (unset: not recorded)
    served_topic: str = "recsys-served"   # SERVED_TOPIC
    served_timeout: float = 10.0          # SERVED_TIMEOUT: seconds a record may wait for the broker, then it is lost
    start_watcher: bool = True

    @classmethod
    def from_env(cls, environ=None) -> "InferenceConfig":
        env = os.environ if environ is None else environ
        return cls(
            redis=RedisSettings.from_env(env),
            poll_interval=env_value(env, "MODEL_POLL_INTERVAL", cls.poll_interval, float),
            cache_dir=cachedir.configured(env),
            user_api_url=(env.get("USER_API_URL") or "").rstrip("/") or None,
            user_api_timeout=env_value(env, "USER_API_TIMEOUT", cls.user_api_timeout, float),
            user_cache_ttl=env_value(env, "USER_CACHE_TTL", cls.user_cache_ttl, int),
            replica_name=env.get("INFERENCE_REPLICA_NAME") or socket.gethostname(),
            kafka_bootstrap=(env.get("KAFKA_BOOTSTRAP_SERVERS") or "").strip() or None,
            served_topic=env_value(env, "SERVED_TOPIC", cls.served_topic),
            served_timeout=env_value(env, "SERVED_TIMEOUT", cls.served_timeout, float),
        )
