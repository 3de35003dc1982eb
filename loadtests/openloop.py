"""A lean open-loop HTTP/1.1 load generator for overload runs (loadtests/overload.py).

Why not locust here: an overload run must offer several times what the stack can serve, from
the same small machine. locust (gevent, a few hundred microseconds of Python per request) tops out
near the stack's own capacity on one core, and once its process is saturated it measures its own
scheduling delays instead of the service's latency. This client is plain asyncio with keep-alive
connections and a minimal response parser: tens of microseconds per request.

Open loop: requests are sent on a fixed schedule (rate R: request n at start + n / R) whether or
not earlier answers came back, each on an idle keep-alive connection or a new one, like the
simulator's independent users. Closed loop (rate 0): N workers, each sending its next request as
soon as it has the answer (the capacity measurement).

Every request is recorded: the time it was due, the time it was sent, the service time (sent ->
answer complete), the HTTP status (0: no answer within the timeout or the connection failed) and
whether a 200's body is a valid answer (harness.answers.check_answer, without a catalog). Why a
request got no answer is counted per phase in `no_answer` (timeout, connect error, connection
closed before the answer).
"""

from __future__ import annotations

import asyncio
import time
from array import array
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.answers import check_answer
from loadtests.traffic import UserMix


@dataclass
class Phase:
    name: str
    rate: float          # requests per second; 0 = closed loop with `workers` workers
    duration: float
    workers: int = 64
    start: float = 0.0   # wall clock (time.time()) when the phase began
    due = None
    sent = None
    service_ms = None
    statuses = None
    valid = None
    not_sent: int = 0    # the generator had no connection to spare (max_connections)
    no_answer: dict = field(default_factory=dict)  # reason -> count

    def __post_init__(self):
        self.due, self.sent, self.service_ms = array("d"), array("d"), array("d")
        self.statuses, self.valid = array("i"), array("b")

    @property
    def end(self) -> float:
        return self.start + self.duration

    def as_dict(self) -> dict:
        return {"name": self.name, "rate": self.rate, "duration": self.duration, "start": self.start, "end": self.end,
                "not_sent": self.not_sent, "no_answer": self.no_answer, "due": self.due.tolist(), "sent": self.sent.tolist(),
                "service_ms": self.service_ms.tolist(), "statuses": self.statuses.tolist(), "valid": self.valid.tolist()}


# An idle keep-alive connection older than this is closed rather than reused: nginx closes its
# idle client connections after keepalive_timeout (15 s), and a request sent just then is lost.
IDLE_REUSE_S = 10.0


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future | None = None
        self.closed = False
        self.keep_alive = True
        self.idle_since = 0.0

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes):
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0 or self.waiter is None or self.waiter.done():
            return
        head = bytes(self.buffer[:head_end]).lower()
        length = 0
        marker = head.find(b"\r\ncontent-length:")
        if marker >= 0:
            line_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17:line_end if line_end >= 0 else None].strip() or 0)
        total = head_end + 4 + length
        if len(self.buffer) < total:
            return
        status = int(head[9:12])
        body = bytes(self.buffer[head_end + 4:total])
        del self.buffer[:total]
        self.keep_alive = b"\r\nconnection: close" not in head
        self.waiter.set_result((status, body))

    def connection_lost(self, exc):
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((0, f"connection closed ({exc.__class__.__name__ if exc else 'by the server'})"))

    def close(self):
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Generator:
    """Runs phases back to back against one base URL; results in each Phase."""

    def __init__(self, url: str, mix: UserMix, timeout: float = 2.0, max_connections: int = 4000):
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.host_header = f"{self.host}:{self.port}".encode()
        self.mix = mix
        self.timeout = timeout
        self.max_connections = max_connections
        self.idle: list[_Connection] = []
        self.open_connections = 0
        self.pending: set[asyncio.Task] = set()

    async def _connection(self, fresh: bool = False) -> _Connection | None:
        now = time.monotonic()
        while self.idle and not fresh:
            conn = self.idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_REUSE_S:
                return conn
            conn.close()
            self.open_connections -= 1
        if self.open_connections >= self.max_connections:
            return None
        self.open_connections += 1
        try:
            _, conn = await asyncio.get_running_loop().create_connection(_Connection, self.host, self.port)
        except OSError:
            self.open_connections -= 1
            raise
        return conn

    def _release(self, conn: _Connection, ok: bool) -> None:
        if ok and conn.keep_alive and not conn.closed:
            conn.idle_since = time.monotonic()
            self.idle.append(conn)
        else:
            conn.close()
            self.open_connections -= 1

    async def _exchange(self, request: bytes) -> tuple[int, bytes | str]:
        """Send one request and wait for its answer: (status, body) or (0, why there was none).

        Like any HTTP client, a request that finds its reused keep-alive connection closed by the
        server (idle timeout, keepalive_requests) before any answer byte is sent again once on a
        new connection: the server never saw it.
        """
        loop = asyncio.get_running_loop()
        for attempt in range(2):
            reused = attempt == 0 and bool(self.idle)
            try:
                conn = await self._connection(fresh=attempt > 0)
            except OSError as error:
                return 0, f"connect error ({error.__class__.__name__})"
            if conn is None:
                return -1, "no connection to spare"
            conn.waiter = loop.create_future()
            timer = loop.call_later(self.timeout, lambda w=conn.waiter: w.done() or w.set_result((0, "timeout")))
            conn.transport.write(request)
            status, body = await conn.waiter
            timer.cancel()
            conn.waiter = None
            self._release(conn, status != 0)
            if not (status == 0 and reused and not conn.buffer and str(body).startswith("connection closed")):
                return status, body
        return status, body

    async def _one(self, phase: Phase, due: float) -> None:
        user_id, _kind = self.mix.next()
        request = b"GET /recommend/%d HTTP/1.1\r\nHost: %s\r\n\r\n" % (user_id, self.host_header)
        sent_wall = time.time()
        started = time.perf_counter()
        status, body = await self._exchange(request)
        if status < 0:
            phase.not_sent += 1
            return
        elapsed_ms = (time.perf_counter() - started) * 1000.0
        if status == 0:
            phase.no_answer[body] = phase.no_answer.get(body, 0) + 1
        valid = status == 200 and check_answer(200, body.decode("utf-8", "replace")) is None
        phase.due.append(due)
        phase.sent.append(sent_wall)
        phase.service_ms.append(elapsed_ms)
        phase.statuses.append(status)
        phase.valid.append(1 if valid else 0)

    def _spawn(self, coro) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _open_loop(self, phase: Phase) -> None:
        start = time.perf_counter()
        phase.start = time.time()
        count = 0
        while True:
            elapsed = time.perf_counter() - start
            if elapsed >= phase.duration:
                break
            due = int(elapsed * phase.rate) + 1 - count
            for _ in range(due):
                self._spawn(self._one(phase, phase.start + count / phase.rate))
                count += 1
            await asyncio.sleep(0.0005)

    async def _closed_loop(self, phase: Phase) -> None:
        phase.start = time.time()
        stop_at = time.perf_counter() + phase.duration

        async def worker():
            while time.perf_counter() < stop_at:
                await self._one(phase, time.time())

        await asyncio.gather(*(worker() for _ in range(phase.workers)))

    async def run(self, phases: list[Phase]) -> list[Phase]:
        for phase in phases:
            await (self._open_loop(phase) if phase.rate > 0 else self._closed_loop(phase))
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=self.timeout + 1)
        for conn in self.idle:
            conn.close()
        return phases


def run_phases(url: str, phases: list[Phase], mix: UserMix, timeout: float = 2.0) -> list[Phase]:
    return asyncio.run(Generator(url, mix, timeout).run(phases))
