"""The simulator's settings, read from the environment in one place (SIM_*, KAFKA_*)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Mapping

from common.envconfig import env_value

PROTOCOLS = {
    # name: (rating scale, the simulator's timeout in seconds, create_account events)
    "f2023": (5, 0.8, False),
    "s2026": (10, 0.6, True),
}


def seconds(text: str) -> float:
    """'90', '90s', '5m', '2h' or '1d' as seconds (SIM_DURATION / make simulate DURATION=...)."""
    text = str(text).strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    scale = units.get(text[-1:], 1)
    try:
        return float(text[:-1] if text[-1:] in units else text) * scale
    except ValueError:
        raise ValueError(f"SIM_DURATION={text!r}: expected seconds, or a number with s, m, h or d") from None


@dataclass(frozen=True)
class ChoiceParams:
    """The choice model's parameters (services/simulator/choice.py; README "The simulator")."""

    rank_decay: float = 1.3        # SIM_RANK_DECAY: a listed movie's pull falls as rank ** -rank_decay
    outside_shift: float = -4.5    # SIM_OUTSIDE_SHIFT: pull of an organic pick (the whole catalogue), log scale
    leave_share: float = 0.03      # SIM_LEAVE_SHARE: sessions that end without watching anything
    rating_share: float = 0.25     # SIM_RATING_SHARE: watches followed by a rating
    drift_per_day: float = 0.05    # SIM_DRIFT: std of the daily random walk of each user's taste vector
    new_user_share: float = 0.05   # SIM_NEW_USER_SHARE: sessions by users the service has never seen
    activity_sigma: float = 1.0    # SIM_ACTIVITY_SIGMA: how unequal users are in how often they come (log-normal)


@dataclass(frozen=True)
class SimConfig:
    service_url: str = "http://127.0.0.1:8082"   # SIM_SERVICE_URL: where GET /recommend/<id> goes
    rate: float = 10.0             # SIM_RATE: recommendation requests (sessions) per wall-clock second
    speed: float = 60.0            # SIM_SPEED: simulated seconds per wall-clock second
    duration: float = 60.0         # SIM_DURATION: wall-clock seconds to run (0: until stopped)
    protocol: str = "f2023"        # SIM_PROTOCOL: f2023 (ratings 1-5, 800 ms) or s2026 (1-10, 600 ms, create_account)
    preset: str = "default"        # SIM_PRESET / SIM_SEED: the world (the same as `trainer generate-data`)
    seed: int = 42
    generator_set: str = ""        # SIM_GENERATOR_SET: "name=value,..." as `trainer generate-data --set` was given
    run_seed: int = 1              # SIM_RUN_SEED: this run's own randomness (arrivals, choices)
    start: str = ""                # SIM_START: simulated start time (default: where the generated data ends)
    bad_share: float = 0.001       # SIM_BAD_SHARE: share of event lines corrupted like the course's
    api_port: int = 8095           # SIM_API_PORT: GET /user/<id>, /movie/<id>, /metrics, /truth on 127.0.0.1
    api_host: str = "127.0.0.1"    # SIM_API_HOST
    api_rate_limit: float = 0.0    # SIM_API_RATE_LIMIT: requests/s the APIs answer (0: no limit), 429 beyond
    api_delay: float = 0.0         # SIM_API_DELAY: seconds every API answer waits
    api_error_share: float = 0.0   # SIM_API_ERROR_SHARE: share of API answers that are a 500
    workers: int = 64              # SIM_WORKERS: sessions waiting for an answer at once
    kafka_bootstrap: str = "127.0.0.1:9092"   # KAFKA_BOOTSTRAP_SERVERS
    kafka_topic: str = "movielog1"            # KAFKA_TOPIC
    truth_json: str = ""           # SIM_TRUTH_JSON: where to write the truth report at the end
    sent_log: str = ""             # SIM_SENT_LOG: every line sent, valid or corrupted (for the fault tests)
    answer_log: str = ""           # SIM_ANSWER_LOG: one JSON line per answer: times, user, status, X-Model-Version
    choice: ChoiceParams = field(default_factory=ChoiceParams)

    @property
    def rating_scale(self) -> int:
        return PROTOCOLS[self.protocol][0]

    @property
    def timeout(self) -> float:
        return PROTOCOLS[self.protocol][1]

    @property
    def create_account(self) -> bool:
        return PROTOCOLS[self.protocol][2]

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "SimConfig":
        env = os.environ if environ is None else environ
        d = cls()
        protocol = env_value(env, "SIM_PROTOCOL", d.protocol)
        if protocol not in PROTOCOLS:
            raise ValueError(f"SIM_PROTOCOL={protocol!r}: use one of {', '.join(PROTOCOLS)}")
        c = ChoiceParams()
        choice = ChoiceParams(
            rank_decay=env_value(env, "SIM_RANK_DECAY", c.rank_decay, float),
            outside_shift=env_value(env, "SIM_OUTSIDE_SHIFT", c.outside_shift, float),
            leave_share=env_value(env, "SIM_LEAVE_SHARE", c.leave_share, float),
            rating_share=env_value(env, "SIM_RATING_SHARE", c.rating_share, float),
            drift_per_day=env_value(env, "SIM_DRIFT", c.drift_per_day, float),
            new_user_share=env_value(env, "SIM_NEW_USER_SHARE", c.new_user_share, float),
            activity_sigma=env_value(env, "SIM_ACTIVITY_SIGMA", c.activity_sigma, float),
        )
        config = cls(
            service_url=env_value(env, "SIM_SERVICE_URL", d.service_url).rstrip("/"),
            rate=env_value(env, "SIM_RATE", d.rate, float),
            speed=env_value(env, "SIM_SPEED", d.speed, float),
            duration=env_value(env, "SIM_DURATION", d.duration, seconds),
            protocol=protocol,
            preset=env_value(env, "SIM_PRESET", d.preset),
            seed=env_value(env, "SIM_SEED", d.seed, int),
            generator_set=env_value(env, "SIM_GENERATOR_SET", d.generator_set),
            run_seed=env_value(env, "SIM_RUN_SEED", d.run_seed, int),
            start=env_value(env, "SIM_START", d.start),
            bad_share=env_value(env, "SIM_BAD_SHARE", d.bad_share, float),
            api_port=env_value(env, "SIM_API_PORT", d.api_port, int),
            api_host=env_value(env, "SIM_API_HOST", d.api_host),
            api_rate_limit=env_value(env, "SIM_API_RATE_LIMIT", d.api_rate_limit, float),
            api_delay=env_value(env, "SIM_API_DELAY", d.api_delay, float),
            api_error_share=env_value(env, "SIM_API_ERROR_SHARE", d.api_error_share, float),
            workers=env_value(env, "SIM_WORKERS", d.workers, int),
            kafka_bootstrap=env_value(env, "KAFKA_BOOTSTRAP_SERVERS", d.kafka_bootstrap),
            kafka_topic=env_value(env, "KAFKA_TOPIC", d.kafka_topic),
            truth_json=env_value(env, "SIM_TRUTH_JSON", d.truth_json),
            sent_log=env_value(env, "SIM_SENT_LOG", d.sent_log),
            answer_log=env_value(env, "SIM_ANSWER_LOG", d.answer_log),
            choice=choice,
        )
        config.check()
        return config

    def check(self) -> None:
        problems = []
        if self.rate <= 0 or self.speed <= 0:
            problems.append("SIM_RATE and SIM_SPEED must be positive")
        if self.duration < 0:
            problems.append("SIM_DURATION must be >= 0")
        for f in fields(ChoiceParams):
            if f.name.endswith("share") and not 0 <= getattr(self.choice, f.name) <= 1:
                problems.append(f"{f.name} must be within 0..1")
        if not 0 <= self.bad_share <= 1 or not 0 <= self.api_error_share <= 1:
            problems.append("SIM_BAD_SHARE and SIM_API_ERROR_SHARE must be within 0..1")
        if self.workers < 1:
            problems.append("SIM_WORKERS must be at least 1")
        if problems:
            raise ValueError("; ".join(problems))
