"""Clients that keep requesting recommendations until stopped, keeping every outcome: what the
tests, the benchmarks and the container suite run while they break things.

Each outcome is checked with harness.answers (the one definition of a valid answer). `wait_for`
raises when the requests do not come, and `check(min_requests)` fails a loop that saw too few
requests as well as one that saw failures, so a loop test cannot pass on silence.
"""

from __future__ import annotations

import http.client
import random
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.answers import check_answer


@dataclass
class Outcome:
    status: int               # 0: connection error or timeout
    version: str | None       # X-Model-Version
    served_by: str | None     # X-Served-By
    seconds: float
    at: float                 # time.monotonic() at the end
    problem: str | None       # None: a valid answer (harness.answers), else why not
    user: int = -1

    @property
    def ok(self) -> bool:
        return self.problem is None


def judge(status: int, body: str, headers: dict[str, str], seconds: float, limit: float, user: int = -1,
          require_headers: bool = True) -> Outcome:
    """The outcome of one answer: valid (harness.answers) within `limit` seconds, plain text, and
    (with `require_headers`) naming the version and the replica that answered."""
    headers = {k.lower(): v for k, v in headers.items()}
    version, served_by = headers.get("x-model-version"), headers.get("x-served-by")
    problem = check_answer(status, body if status else None, elapsed_ms=seconds * 1000, limit_ms=limit * 1000)
    if problem is None and not headers.get("content-type", "").startswith("text/plain"):
        problem = f"content type {headers.get('content-type')!r}"
    if problem is None and require_headers and not (version and served_by):
        problem = "missing X-Model-Version or X-Served-By"
    return Outcome(status, version, served_by, seconds, time.monotonic(), problem, user)


class RequestLoop:
    """`clients` threads requesting `/recommend/<id>` at `url` for ids drawn from `user_ids`."""

    def __init__(self, url: str, user_ids, timeout: float = 0.8, clients: int = 1, pause: float = 0.0,
                 require_headers: bool = True, seed: int = 0):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.user_ids = list(user_ids)
        self.timeout, self.pause, self.require_headers, self.seed = timeout, pause, require_headers, seed
        self.outcomes: list[Outcome] = []
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True, name=f"request-loop-{n}")
                         for n in range(clients)]

    # -- running ----------------------------------------------------------------------------
    def _request(self, conn: http.client.HTTPConnection, user: int) -> Outcome:
        started = time.perf_counter()
        try:
            conn.request("GET", f"/recommend/{user}")
            response = conn.getresponse()
            body = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            conn.close()
            return Outcome(0, None, None, time.perf_counter() - started, time.monotonic(),
                           check_answer(0, None, error=error), user)
        if response.will_close:
            conn.close()
        return judge(response.status, body, dict(response.getheaders()), time.perf_counter() - started,
                     self.timeout, user, self.require_headers)

    def _run(self, n: int) -> None:
        rng = random.Random(self.seed + n)  # nosec B311  # which user to ask for: test traffic, not security
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        while not self._stop.is_set():
            self.outcomes.append(self._request(conn, rng.choice(self.user_ids)))
            if self.pause:
                self._stop.wait(self.pause)
        conn.close()

    def __enter__(self) -> "RequestLoop":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    # -- reading ----------------------------------------------------------------------------
    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Block until `count` more requests have finished; TimeoutError when they do not come."""
        target = len(self.outcomes) + count
        deadline = time.monotonic() + timeout
        while len(self.outcomes) < target:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"request loop: {len(self.outcomes)} of {target} requests after {timeout:g} s "
                                   f"({self.summary()})")
            time.sleep(0.01)

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in list(self.outcomes) if not o.ok]

    def since(self, moment: float) -> list[Outcome]:
        return [o for o in list(self.outcomes) if o.at >= moment]

    def summary(self) -> str:
        outcomes = list(self.outcomes)
        failures = [o for o in outcomes if not o.ok]
        text = f"{len(outcomes)} requests, {len(failures)} failed"
        if failures:
            reasons: dict[str, int] = {}
            for o in failures:
                reasons[o.problem] = reasons.get(o.problem, 0) + 1
            text += " (" + "; ".join(f"{r}: {c}" for r, c in sorted(reasons.items(), key=lambda kv: -kv[1])[:5]) + ")"
        return text

    def check(self, min_requests: int) -> None:
        """AssertionError unless at least `min_requests` finished and none failed."""
        if len(self.outcomes) < min_requests:
            raise AssertionError(f"only {self.summary()}; expected at least {min_requests} requests")
        if self.failures:
            raise AssertionError(self.summary())
