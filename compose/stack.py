"""The stack under test as the suite sees it: the engine that runs it, nginx's host port, and the
inference replicas' hostnames (what they put in X-Served-By). Requests through nginx are checked
with harness.answers, the one definition of a valid answer, like harness.loop's."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from harness.loop import Outcome, RequestLoop, judge
from harness.waiting import http_get, ready_version

from compose.engine import Engine
from compose.settings import Settings

LOOP_USERS = range(400)   # the request loops' user ids: known users of every preset, and 0


def started(outcome: Outcome) -> float:
    """When the request was sent (time.monotonic(); an Outcome keeps when it ended)."""
    return outcome.at - outcome.seconds


@dataclass
class Stack:
    engine: Engine
    port: int
    volumes_before: set[str] = field(default_factory=set)     # the engine's volumes before the run
    redis_port_was_free: bool = True                          # nothing on the host's 6379 before `up`
    hostnames: dict[str, str] = field(default_factory=dict)   # container id -> hostname (= X-Served-By)

    @property
    def settings(self) -> Settings:
        return self.engine.settings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def replicas(self) -> list[str]:
        """The running inference containers (their hostnames remembered)."""
        running = self.engine.containers("inference")
        for container in running:
            if container not in self.hostnames:
                self.hostnames[container] = self.engine.inspect(container, "{{.Config.Hostname}}")
        return running

    def ready_version(self) -> str | None:
        """The version nginx's /readyz reports (None: not 200)."""
        return ready_version(f"{self.url}/readyz", timeout=self.settings.client_timeout)

    def recommend(self, user: int) -> Outcome:
        """One `GET /recommend/<user>` through nginx, judged as the request loop judges its answers."""
        limit = self.settings.client_timeout
        t0 = time.perf_counter()
        status, body, raw_headers = http_get(f"{self.url}/recommend/{user}", timeout=limit)
        seconds = time.perf_counter() - t0
        return judge(status, body, raw_headers, seconds, limit, user)

    def loop(self, clients: int = 2, pause: float = 0.0) -> RequestLoop:
        """Clients requesting recommendations through nginx until the `with` block ends."""
        return RequestLoop(self.url, LOOP_USERS, timeout=self.settings.client_timeout, clients=clients, pause=pause)
