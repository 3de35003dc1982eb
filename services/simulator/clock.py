"""Simulated time and the lines waiting for it.

The clock runs `speed` simulated seconds per wall-clock second from `start` (seconds since the
epoch). Lines are scheduled at simulated times (a watch line per minute of the movie, a rating at
the end) and released by the sender once the clock has passed them.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from dataclasses import dataclass, field


class SimClock:
    def __init__(self, start: float, speed: float):
        self.start, self.speed = start, speed
        self._t0 = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self._t0) * self.speed

    def wall_seconds_until(self, sim_time: float) -> float:
        return max(0.0, (sim_time - self.now()) / self.speed)


@dataclass(order=True)
class Scheduled:
    at: float
    seq: int
    user: int = field(compare=False)
    line: str = field(compare=False)
    kind: str = field(compare=False)     # watch | rate | recommendation | create_account
    on_send: object = field(compare=False, default=None)   # called once the line went out


class EventQueue:
    """Lines by simulated time; thread-safe."""

    def __init__(self):
        self._heap: list[Scheduled] = []
        self._lock = threading.Lock()
        self._seq = itertools.count()

    def push(self, at: float, user: int, line: str, kind: str, on_send=None) -> None:
        with self._lock:
            heapq.heappush(self._heap, Scheduled(at, next(self._seq), user, line, kind, on_send))

    def due(self, now: float, limit: int = 10_000) -> list[Scheduled]:
        out = []
        with self._lock:
            while self._heap and self._heap[0].at <= now and len(out) < limit:
                out.append(heapq.heappop(self._heap))
        return out

    def __len__(self) -> int:
        with self._lock:
            return len(self._heap)
