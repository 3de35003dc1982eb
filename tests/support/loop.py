"""A client that keeps requesting recommendations until stopped, and keeps every outcome."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import requests


@dataclass
class Outcome:
    status: int          # 0 = connection error or timeout
    version: str | None
    served_by: str | None
    seconds: float
    at: float


@dataclass
class RequestLoop:
    url: str
    user_ids: list[int]
    timeout: float = 0.8
    outcomes: list[Outcome] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        session = requests.Session()
        rng = random.Random(0)
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                response = session.get(f"{self.url}/recommend/{rng.choice(self.user_ids)}", timeout=self.timeout)
                outcome = Outcome(response.status_code, response.headers.get("X-Model-Version"),
                                  response.headers.get("X-Served-By"), time.perf_counter() - started, time.monotonic())
            except requests.RequestException:
                outcome = Outcome(0, None, None, time.perf_counter() - started, time.monotonic())
            self.outcomes.append(outcome)

    def __enter__(self) -> "RequestLoop":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        target = len(self.outcomes) + count
        while len(self.outcomes) < target and time.monotonic() < deadline:
            time.sleep(0.01)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status != 200]

    def summary(self) -> str:
        return f"{len(self.outcomes)} requests, {len(self.failures)} failed"
