"""The request loop cannot pass on silence: a wait that runs out raises, and `check` fails a loop
with too few requests as well as one with failures. Against real local HTTP servers."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness.loop import RequestLoop
from harness.ports import free_port


class Answers:
    """A local server answering /recommend/<id> with `body` (and the headers nginx passes on)."""

    def __init__(self, body: str, status: int = 200):
        self.body, self.status = body, status
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                data = outer.body.encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("X-Model-Version", "v1-abc")
                self.send_header("X-Served-By", "inference-1")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def answers():
    servers = []

    def start(body: str, status: int = 200) -> Answers:
        servers.append(Answers(body, status))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def test_valid_answers_pass_the_check(answers):
    server = answers("a+1999,b+2000")
    with RequestLoop(server.url, [1, 2, 3], clients=2) as loop:
        loop.wait_for(50)
    loop.check(min_requests=50)
    assert {o.user for o in loop.outcomes} <= {1, 2, 3} and {o.version for o in loop.outcomes} == {"v1-abc"}


def test_a_loop_that_sees_no_answers_fails_its_wait_and_its_check():
    with RequestLoop(f"http://127.0.0.1:{free_port()}", [1], timeout=0.2, pause=0.5) as loop:
        with pytest.raises(TimeoutError, match="request loop"):
            loop.wait_for(1000, timeout=0.5)
    with pytest.raises(AssertionError, match="expected at least 1000"):
        loop.check(min_requests=1000)
    with pytest.raises(AssertionError, match="failed"):
        loop.check(min_requests=0)


@pytest.mark.parametrize("body,status,reason", [
    ("a+1999,a+1999", 200, "duplicate ids"),
    ('["a+1999"]', 200, "malformed id"),
    ("", 200, "empty list"),
    ("busy", 503, "status 503"),
])
def test_invalid_answers_count_as_failures(answers, body, status, reason):
    server = answers(body, status)
    with RequestLoop(server.url, [1]) as loop:
        loop.wait_for(5)
    assert loop.failures and all(reason in o.problem for o in loop.failures)
    with pytest.raises(AssertionError, match=reason):
        loop.check(min_requests=5)
