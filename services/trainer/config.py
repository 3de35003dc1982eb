"""Every trainer setting in one place: model hyperparameters and service settings, from the environment."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from common.envconfig import env_value


# Settings the trainer shares with other programs keep their shared name.
ENV_NAMES = {"event_protocol": "EVENT_PROTOCOL"}


@dataclass(frozen=True)
class ModelConfig:
    """LightFM hyperparameters and the evaluation protocol (env var = TRAIN_<FIELD in capitals>)."""

    loss: str = "warp"
    no_components: int = 32
    learning_rate: float = 0.05
    epochs: int = 30
    item_alpha: float = 0.0
    user_alpha: float = 0.0
    max_sampled: int = 10
    identity_weight: float = 0.7      # share of a user/item feature row given to its identity feature
    use_weights: bool = True          # weight positives by watch time / rating (README, "Interactions")
    seed: int = 42
    num_threads: int = max(1, os.cpu_count() or 1)
    test_fraction: float = 0.25       # per-user share of interactions held out for evaluation
    cold_start_fraction: float = 0.05  # share of users held out entirely (features only)
    eval_users: int = 5000             # at most this many users are scored during evaluation
    eval_fit_users: int = 200_000      # the evaluation fit sees at most this many users (a random sample)
    top_k: int = 20                    # length of the precomputed list per known user
    max_malformed: float = 0.05        # a file with a larger share of malformed lines stops training
    window_days: float = 0.0           # train on the events of the last this many days before the newest (0: all)
    event_protocol: str = "f2023"      # EVENT_PROTOCOL: f2023 (ratings 1-5) or s2026 (ratings 1-10, create_account)

    @classmethod
    def from_env(cls, environ=None, **overrides) -> "ModelConfig":
        environ = os.environ if environ is None else environ
        values = {}
        for field in fields(cls):
            default = getattr(cls, field.name)
            name = ENV_NAMES.get(field.name, f"TRAIN_{field.name.upper()}")
            values[field.name] = env_value(environ, name, default, type(default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        config = cls(**values)
        config.check()
        return config

    def check(self) -> None:
        if self.loss not in ("warp", "bpr", "warp-kos", "logistic"):
            raise ValueError(f"TRAIN_LOSS={self.loss!r}: expected warp, bpr, warp-kos or logistic")
        if self.no_components < 1 or self.epochs < 1 or self.top_k < 1 or self.top_k > 20:
            raise ValueError("no_components and epochs must be >= 1, top_k in 1..20")
        if not 0 < self.identity_weight <= 1:
            raise ValueError("identity_weight must be in (0, 1]")
        if not 0 < self.test_fraction < 1 or not 0 <= self.cold_start_fraction < 1:
            raise ValueError("test_fraction must be in (0, 1) and cold_start_fraction in [0, 1)")
        if self.event_protocol not in ("f2023", "s2026"):
            raise ValueError(f"EVENT_PROTOCOL={self.event_protocol!r}: expected f2023 or s2026")
        if self.window_days < 0:
            raise ValueError(f"TRAIN_WINDOW_DAYS={self.window_days!r}: expected >= 0 (0: every event)")
        if not 0 <= self.max_malformed <= 1:
            raise ValueError(f"TRAIN_MAX_MALFORMED / --max-malformed {self.max_malformed!r}: expected "
                             f"a fraction in [0, 1] (0.05: at most 5% of a file's lines malformed)")

    def fingerprint_fields(self) -> dict:
        """What changes the trained model (threads and the malformed-input limit do not)."""
        values = asdict(self)
        values.pop("num_threads")
        values.pop("max_malformed")
        return values


@dataclass(frozen=True)
class ServiceConfig:
    """`trainer serve`: where data and models live and how often to look for new data."""

    data_dir: Path = Path("data/generated/default")
    data_preset: str = "default"       # generated into data_dir when it holds no data ("" = never generate)
    movielens_dir: Path | None = None   # train on a MovieLens directory instead of simulator data
    model_dir: Path = Path("models/default")
    retrain_interval: float = 0.0      # seconds between looks for new event files; 0 = train once
    retrain_min_events: int = 0        # also retrain as soon as this many new events arrived (0: off)
    keep_versions: int = 5
    force_publish: bool = False

    @classmethod
    def from_env(cls, environ=None) -> "ServiceConfig":
        environ = os.environ if environ is None else environ
        # env_value reads an empty value as unset; an empty DATA_PRESET means "never generate".
        never_generate = environ.get("DATA_PRESET") == ""
        return cls(
            data_dir=env_value(environ, "DATA_DIR", cls.data_dir, Path),
            data_preset="" if never_generate else env_value(environ, "DATA_PRESET", cls.data_preset),
            movielens_dir=env_value(environ, "MOVIELENS_DIR", cls.movielens_dir, Path),
            model_dir=env_value(environ, "MODEL_DIR", cls.model_dir, Path),
            retrain_interval=env_value(environ, "RETRAIN_INTERVAL", cls.retrain_interval, float),
            retrain_min_events=env_value(environ, "RETRAIN_MIN_EVENTS", cls.retrain_min_events, int),
            keep_versions=env_value(environ, "KEEP_VERSIONS", cls.keep_versions, int),
            force_publish=env_value(environ, "FORCE_PUBLISH", cls.force_publish, bool),
        )
