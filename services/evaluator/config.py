"""The online evaluator's settings, read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from common.envconfig import data_path, env_value, event_protocol


@dataclass(frozen=True)
class EvaluatorConfig:
    bootstrap: str = "127.0.0.1:9092"    # KAFKA_BOOTSTRAP_SERVERS
    topic: str = "movielog1"             # KAFKA_TOPIC: the event stream (watch, rate, recommendation lines)
    served_topic: str = "recsys-served"  # SERVED_TOPIC: the replicas' served-answer records
    protocol: str = "f2023"              # EVENT_PROTOCOL
    window: float = 1800.0               # ONLINE_WINDOW: seconds of event time in which a watch follows an answer
    lateness: float = 300.0              # ONLINE_LATENESS: seconds of event time an event may come late and count
    join_slack: float = 5.0              # ONLINE_JOIN_SLACK: seconds a recommendation line waits for its served record
    bucket: float = 300.0                # ONLINE_BUCKET_SECONDS: time resolution of the figures (and the plot)
    horizon: float = 4 * 3600.0          # ONLINE_HORIZON: seconds after an answer its watched movie's minutes and rating count
    state_dir: Path = Path("data/generated/default/online")   # ONLINE_STATE_DIR (default: <DATA_DIR>/online)
    commit_seconds: float = 10.0         # ONLINE_COMMIT_SECONDS: how often the state and offsets are saved
    metrics_port: int = 0                # ONLINE_METRICS_PORT: Prometheus /metrics (0: off)
    metrics_host: str = "127.0.0.1"      # ONLINE_METRICS_HOST

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "EvaluatorConfig":
        env = os.environ if environ is None else environ
        d = cls()
        config = cls(
            bootstrap=env_value(env, "KAFKA_BOOTSTRAP_SERVERS", d.bootstrap),
            topic=env_value(env, "KAFKA_TOPIC", d.topic),
            served_topic=env_value(env, "SERVED_TOPIC", d.served_topic),
            protocol=event_protocol(env, d.protocol),
            window=env_value(env, "ONLINE_WINDOW", d.window, float),
            lateness=env_value(env, "ONLINE_LATENESS", d.lateness, float),
            join_slack=env_value(env, "ONLINE_JOIN_SLACK", d.join_slack, float),
            bucket=env_value(env, "ONLINE_BUCKET_SECONDS", d.bucket, float),
            horizon=env_value(env, "ONLINE_HORIZON", d.horizon, float),
            state_dir=data_path(env, "ONLINE_STATE_DIR", "online", d.state_dir),
            commit_seconds=env_value(env, "ONLINE_COMMIT_SECONDS", d.commit_seconds, float),
            metrics_port=env_value(env, "ONLINE_METRICS_PORT", d.metrics_port, int),
            metrics_host=env_value(env, "ONLINE_METRICS_HOST", d.metrics_host),
        )
        for name, value in (("ONLINE_WINDOW", config.window), ("ONLINE_BUCKET_SECONDS", config.bucket),
                            ("ONLINE_COMMIT_SECONDS", config.commit_seconds), ("ONLINE_JOIN_SLACK", config.join_slack)):
            if value <= 0:
                raise ValueError(f"{name}={value:g} must be > 0")
        if config.lateness < 0:
            raise ValueError(f"ONLINE_LATENESS={config.lateness:g} must be >= 0")
        if config.horizon < config.window:
            raise ValueError(f"ONLINE_HORIZON={config.horizon:g} must be at least ONLINE_WINDOW={config.window:g}")
        return config
