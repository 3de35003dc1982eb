"""What really happened, per model version (the answer's X-Model-Version): the simulator's own
count, for comparison with what the service measures online. Never an input to the service.

Per version: sessions, answers over the timeout, failures (no answer, or not a 200), the share
of answered sessions followed by watching a listed movie within 30 simulated minutes, the mean
rank of the watched listed movie, and the mean true appeal of the served lists. Exported as
Prometheus metrics (`sim_*`) and as a JSON summary.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge

FOLLOW_WINDOW = 30 * 60.0   # simulated seconds between the answer and the first watch line


@dataclass
class VersionTruth:
    sessions: int = 0
    answered: int = 0          # status 200 within the timeout
    late: int = 0
    failed: int = 0
    followed: int = 0
    rank_sum: int = 0
    appeal_sum: float = 0.0
    appeal_count: int = 0

    def summary(self) -> dict:
        return {
            "sessions": self.sessions, "answered": self.answered, "late": self.late, "failed": self.failed,
            "followed": self.followed,
            "followed_share": self.followed / self.answered if self.answered else None,
            "mean_rank": self.rank_sum / self.followed if self.followed else None,
            "mean_appeal": self.appeal_sum / self.appeal_count if self.appeal_count else None,
        }


@dataclass
class Truth:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self):
        self.lock = threading.Lock()
        self.versions: dict[str, VersionTruth] = defaultdict(VersionTruth)
        self.by_day: dict[tuple[str, int], VersionTruth] = defaultdict(VersionTruth)   # (version, simulated day)
        self.events: dict[str, int] = defaultdict(int)
        self.corrupted: dict[str, int] = defaultdict(int)
        r = self.registry
        self._sessions = Counter("sim_sessions", "Sessions (recommendation requests), by answering version", ["version"], registry=r)
        self._answered = Counter("sim_answered", "Answers that were a 200 within the timeout", ["version"], registry=r)
        self._late = Counter("sim_late", "Answers over the simulator's timeout", ["version"], registry=r)
        self._failed = Counter("sim_failed", "Requests without a usable answer", ["version"], registry=r)
        self._followed = Counter("sim_followed", "Answers followed by watching a listed movie within 30 simulated minutes", ["version"], registry=r)
        self._rank = Counter("sim_followed_rank", "Sum of the ranks of the watched listed movies", ["version"], registry=r)
        self._appeal = Gauge("sim_list_appeal_mean", "Mean true appeal of the served movies", ["version"], registry=r)
        self._events = Counter("sim_events", "Event lines sent, by kind", ["kind"], registry=r)
        self._corrupted = Counter("sim_corrupted", "Event lines corrupted on purpose, by corruption", ["corruption"], registry=r)

    def session(self, version: str | None, outcome: str, appeals: list[float], day: int = 0) -> None:
        """outcome: "answered", "late" or "failed"; day: the simulated day of the session."""
        name = version or "none"
        with self.lock:
            for v in (self.versions[name], self.by_day[(name, day)]):
                v.sessions += 1
                setattr(v, outcome, getattr(v, outcome) + 1)
                v.appeal_sum += sum(appeals)
                v.appeal_count += len(appeals)
        self._sessions.labels(name).inc()
        {"answered": self._answered, "late": self._late, "failed": self._failed}[outcome].labels(name).inc()
        if appeals:
            self._appeal.labels(name).set(v.appeal_sum / v.appeal_count)

    def followed(self, version: str, rank: int, day: int = 0) -> None:
        with self.lock:
            for v in (self.versions[version], self.by_day[(version, day)]):
                v.followed += 1
                v.rank_sum += rank
        self._followed.labels(version).inc()
        self._rank.labels(version).inc(rank)

    def event(self, kind: str, corruption: str | None = None) -> None:
        with self.lock:
            self.events[kind] += 1
            if corruption:
                self.corrupted[corruption] += 1
        self._events.labels(kind).inc()
        if corruption:
            self._corrupted.labels(corruption).inc()

    def summary(self) -> dict:
        with self.lock:
            return {
                "versions": {name: v.summary() for name, v in sorted(self.versions.items())},
                "by_day": {f"{name}@{day}": v.summary() for (name, day), v in sorted(self.by_day.items())},
                "events": dict(self.events),
                "corrupted": dict(self.corrupted),
                "corrupted_total": sum(self.corrupted.values()),
            }



def write_json(path: Path, summary: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(summary, indent=2) + "\n")
    tmp.replace(path)


def format_report(summary: dict) -> str:
    """The truth report as a table, one line per version."""
    lines = [f"{'version':<22} {'sessions':>8} {'late':>5} {'failed':>6} {'followed':>9} {'mean rank':>9} {'appeal':>7}"]
    for name, v in summary["versions"].items():
        share = f"{v['followed_share']:.3f}" if v["followed_share"] is not None else "-"
        rank = f"{v['mean_rank']:.2f}" if v["mean_rank"] is not None else "-"
        appeal = f"{v['mean_appeal']:.2f}" if v["mean_appeal"] is not None else "-"
        lines.append(f"{name:<22} {v['sessions']:>8} {v['late']:>5} {v['failed']:>6} {share:>9} {rank:>9} {appeal:>7}")
    events = ", ".join(f"{k} {n}" for k, n in sorted(summary["events"].items()))
    lines.append(f"events sent: {events}; corrupted on purpose: {summary['corrupted_total']}")
    return "\n".join(lines)
