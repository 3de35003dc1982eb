"""The ingester's settings, read from the environment in one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from common.envconfig import data_path, env_value, event_protocol


@dataclass(frozen=True)
class IngestConfig:
    bootstrap: str = "127.0.0.1:9092"      # KAFKA_BOOTSTRAP_SERVERS
    topic: str = "movielog1"               # KAFKA_TOPIC
    group: str = "recsys-ingest"           # KAFKA_GROUP_ID: where the offsets are committed (a hint)
    events_dir: Path = Path("data/generated/default/events")   # EVENT_DIR: the trainer's event directory
    quarantine_dir: Path | None = None     # QUARANTINE_DIR (default: <EVENT_DIR>/../quarantine)
    protocol: str = "f2023"                # EVENT_PROTOCOL: f2023 (ratings 1-5) or s2026 (1-10, create_account)
    batch_seconds: float = 1.0             # INGEST_BATCH_SECONDS: longest wait before a batch is written
    batch_lines: int = 50_000              # INGEST_BATCH_LINES: most lines in one batch
    compact_seconds: float = 3600.0        # INGEST_COMPACT_SECONDS: event time per merged file
    retention_days: float = 0.0            # EVENT_RETENTION_DAYS: remove older ingested files (0: keep all)
    metrics_port: int = 0                  # INGEST_METRICS_PORT: Prometheus /metrics (0: off)
    metrics_host: str = "127.0.0.1"        # INGEST_METRICS_HOST

    @property
    def quarantine(self) -> Path:
        return self.quarantine_dir or self.events_dir.parent / "quarantine"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "IngestConfig":
        env = os.environ if environ is None else environ
        d = cls()
        config = cls(
            bootstrap=env_value(env, "KAFKA_BOOTSTRAP_SERVERS", d.bootstrap),
            topic=env_value(env, "KAFKA_TOPIC", d.topic),
            group=env_value(env, "KAFKA_GROUP_ID", d.group),
            events_dir=data_path(env, "EVENT_DIR", "events", d.events_dir),
            quarantine_dir=Path(env["QUARANTINE_DIR"]) if env.get("QUARANTINE_DIR") else None,
            protocol=event_protocol(env, d.protocol),
            batch_seconds=env_value(env, "INGEST_BATCH_SECONDS", d.batch_seconds, float),
            batch_lines=env_value(env, "INGEST_BATCH_LINES", d.batch_lines, int),
            compact_seconds=env_value(env, "INGEST_COMPACT_SECONDS", d.compact_seconds, float),
            retention_days=env_value(env, "EVENT_RETENTION_DAYS", d.retention_days, float),
            metrics_port=env_value(env, "INGEST_METRICS_PORT", d.metrics_port, int),
            metrics_host=env_value(env, "INGEST_METRICS_HOST", d.metrics_host),
        )
        if config.batch_seconds <= 0 or config.batch_lines < 1:
            raise ValueError("INGEST_BATCH_SECONDS must be > 0 and INGEST_BATCH_LINES >= 1")
        return config
