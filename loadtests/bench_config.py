"""What a benchmark run is: its profile (phase lengths, rates, replica counts), the targets, and
the settings every step is handed (`Run`) — passed explicitly, no module state."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

TARGETS = {"ceiling_ratio": 0.8, "p99_at_half_saturation_ms": 20.0, "compute_ms": 0.5, "replica_memory_mb": 400.0,
           "swap_failures": 0, "swap_seconds": 2.0, "records_cost": 0.05}


@dataclass(frozen=True)
class Profile:
    """Phase lengths (seconds), users and rates of a run; `QUICK` is the short one."""
    name: str
    # the main stack, as `make up` on 2 cores: replicas x WEB_CONCURRENCY workers (= cores)
    replicas: int = 2
    workers: int = 2
    # locust users: closed loop (back to back) for the ceiling and scaling, open loop for rates and swap
    closed_users: int = 32
    open_users: int = 128
    warmup: float = 2.0                                  # unrecorded traffic before a locust run's phases
    # ceiling: rounds of /ping then /recommend
    ceiling_rounds: int = 4
    ceiling_s: float = 6.0
    # latency vs offered load: fractions of the saturation throughput S
    sweep: tuple = (0.1, 0.25, 0.5, 0.75, 0.9, 1.0, 1.15)
    sweep_s: float = 8.0
    # hot swap: the phase, and when into it the new version is published
    swap_s: float = 12.0
    swap_at: float = 4.0
    # served records on vs off: rounds of (ceiling, half-saturation phase) per arm, alternating
    records_rounds: int = 2
    # replica scaling: replica counts of `scaling_workers` workers each
    scaling: tuple = (1, 2, 4)
    scaling_workers: int = 1
    scaling_s: float = 6.0
    # model compute and replica memory (scripts/bench_inference.py)
    compute_users: int = 1_000_000
    compute_movies: int = 27_000
    compute_repeats: int = 20_000


FULL = Profile("full")
QUICK = Profile("quick", closed_users=32, open_users=96, warmup=2.0, ceiling_rounds=2, ceiling_s=3.0, sweep=(0.25, 0.5, 0.9),
                sweep_s=4.0, swap_s=6.0, swap_at=2.0, scaling=(1, 2), scaling_s=3.0, compute_repeats=5_000,
                records_rounds=1)


@dataclass(frozen=True)
class Run:
    """What every step of one run needs: the profile, its scratch directory and the traffic it sends."""
    profile: Profile
    workdir: Path                 # plans, locust logs and raw results, the stacks' run directories
    known: tuple[int, int]        # the model's user ids (known and table users): Zipf-drawn
    catalog: str                  # the model directory: answers must hold its movie ids
    unknown_share: float = 0.05   # share of ids above the known range (cold start)
    zipf_exponent: float = 1.0


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)
