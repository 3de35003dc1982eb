"""The course's APIs as the simulator serves them, plus its own metrics:

    GET /user/<id>     {"user_id": 4242, "age": 34, "occupation": "...", "gender": "M"}, or
                       {"message": "invalid userID"} for an id nobody has
    GET /movie/<id>    a TMDB-like object (numbers as strings where the course sends strings), or
                       {"message": "invalid movieID"}
    GET /metrics       the truth report as Prometheus metrics (sim_*)
    GET /truth         the truth report as JSON

Optional faults for the service's clients: a rate limit (429 beyond SIM_API_RATE_LIMIT requests/s),
a delay on every answer, a share of 500s.
"""

from __future__ import annotations

import json
import random
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import generate_latest

from simulator.config import SimConfig
from simulator.population import Population
from simulator.truth import Truth


class RateLimit:
    def __init__(self, per_second: float):
        self.per_second, self.tokens, self.updated = per_second, per_second, time.monotonic()
        self.lock = threading.Lock()

    def allow(self) -> bool:
        if self.per_second <= 0:
            return True
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.per_second, self.tokens + (now - self.updated) * self.per_second)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return True
            return False


def make_server(config: SimConfig, population: Population, truth: Truth) -> ThreadingHTTPServer:
    limit = RateLimit(config.api_rate_limit)
    faults = random.Random(config.run_seed)  # nosec B311  # simulated faults, not security

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                return self.answer(200, generate_latest(truth.registry), "text/plain; version=0.0.4")
            if path == "/truth":
                return self.answer(200, json.dumps(truth.summary()).encode())
            kind, _, key = path.strip("/").partition("/")
            if kind not in ("user", "movie") or not key:
                return self.answer(404, b'{"message": "not found"}')
            if not limit.allow():
                return self.answer(429, b'{"message": "rate limit exceeded"}')
            if config.api_delay:
                time.sleep(config.api_delay)
            if config.api_error_share and faults.random() < config.api_error_share:
                return self.answer(500, b'{"message": "internal error"}')
            if kind == "user":
                record = population.user_record(int(key)) if key.isdigit() and len(key) <= 12 else None
                body = record or {"message": "invalid userID"}
            else:
                body = population.movie_record(key) or {"message": "invalid movieID"}
            try:
                self.answer(200, json.dumps(body).encode())
            except OSError:
                pass  # the client gave up first

    server = ThreadingHTTPServer((config.api_host, config.api_port), Handler)
    server.daemon_threads = True
    return server
