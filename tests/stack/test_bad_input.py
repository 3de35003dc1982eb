"""Hostile and malformed requests through nginx to real replicas: never a 5xx, never a crash.

Hypothesis generates user-id segments (unicode, separators, huge numbers, percent-encoding); a
fixed list covers traversal, long paths, other methods, oversized headers and bodies; a slow
client (slowloris) must not hold the service hostage. After every test both replicas still run
and answer.
"""

from __future__ import annotations

import socket
import string
import time
import urllib.parse

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.weightcache import WeightStore
from harness.bundles import make_bundle
from harness.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("bad-input"), replicas=2)
    try:
        stack.start()
        WeightStore(stack.admin(), prefix="recsys").publish(make_bundle().to_arrays())
        stack.wait_ready()
        yield stack
    finally:
        stack.close()


def raw_request(stack, data: bytes, read_timeout: float = 5.0) -> tuple[int, bytes]:
    """Send bytes as they are (no client-side normalisation); status 0 = connection closed."""
    with socket.create_connection(("127.0.0.1", stack.port), timeout=read_timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and len(b"".join(chunks)) > 0:
                    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
                    length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                    if length and len(body) >= length[0]:
                        break
        except (socket.timeout, ConnectionResetError):
            pass
    response = b"".join(chunks)
    if not response.startswith(b"HTTP/1."):
        return 0, response
    return int(response.split(b" ", 2)[1]), response


@pytest.fixture(autouse=True)
def service_intact(stack):
    """No malformed request crashed or stalled a replica."""
    yield
    for replica in stack.replicas:
        assert replica.running(), f"{replica.name} died"
        assert replica.readyz()[0] == 200
    assert requests.get(f"{stack.url}/recommend/5", timeout=1).status_code == 200


def assert_clear_client_error(status: int, body: bytes) -> None:
    assert status == 0 or 400 <= status < 500 or status == 200, f"status {status}: {body[:200]!r}"
    if 400 <= status < 500:
        text = body.partition(b"\r\n\r\n")[2].decode("utf-8", "replace")
        assert text and "\n" not in text.strip() and "<html" not in text.lower(), text[:200]


segment_chars = st.characters(blacklist_categories=("Cs",))
segments = st.one_of(
    st.text(segment_chars, min_size=1, max_size=40),
    st.text(string.digits + "-+.eE ,/%", min_size=1, max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.binary(min_size=1, max_size=20).map(lambda b: urllib.parse.quote(b, safe="")),
)


def test_fuzzed_user_ids_get_200_or_a_one_line_4xx(stack):
    statuses: list[int] = []

    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(segment=segments)
    def check(segment):
        path = "/recommend/" + urllib.parse.quote(segment, safe="")
        status, response = raw_request(stack, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        statuses.append(status)
        assert_clear_client_error(status, response)
        body = response.partition(b"\r\n\r\n")[2].decode()
        if status == 200:
            assert segment.isascii() and segment.isdigit() and len(segment) <= 12, segment
            assert 0 < len(body.split(",")) <= 20
        elif segment.isascii() and segment.isdigit() and len(segment) <= 12:
            pytest.fail(f"a valid id {segment!r} got {status}")

    check()
    print(f"fuzzed requests: {len(statuses)}; statuses: { {s: statuses.count(s) for s in sorted(set(statuses))} }")
    assert len(statuses) >= 190, f"only {len(statuses)} fuzzed requests were sent"
    assert not [s for s in statuses if s >= 500]


CASES = [
    b"GET /recommend/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /recommend/..%2F..%2Fetc%2Fpasswd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /recommend/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /recommend/1%2F2 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /recommend/%00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /recommend/1%0d%0aX-Injected:%201 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /recommend/" + b"9" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /" + b"a/" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /recommend/1 HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n",
    b"GET /recommend/1 HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(500)) + b"\r\n",
    b"POST /recommend/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
    b"PUT /recommend/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    b"DELETE /recommend/1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    b"TRACE /recommend/1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /recommend/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000,
    b"GET /recommend/1 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"GET /recommend/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"GET /recommend/1 HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GARBAGE\r\n\r\n",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64,  # a TLS ClientHello on a plain port
    b"GET /recommend/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /recommend/\xe2\x80\xae1 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /metrics/../nginx_status HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /nginx_status HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET http://evil.example/recommend/1 HTTP/1.1\r\nHost: evil.example\r\n\r\n",
    b"GET /recommend/1 HTTP/1.1\r\n\r\n",
]


@pytest.mark.parametrize("data", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_malformed_requests_get_a_clear_4xx(stack, data):
    status, response = raw_request(stack, data)
    assert_clear_client_error(status, response)


def test_slow_clients_do_not_block_the_service(stack):
    """Ten connections trickling a header byte by byte; meanwhile normal requests are answered."""
    slow = []
    for _ in range(10):
        sock = socket.create_connection(("127.0.0.1", stack.port), timeout=10)
        sock.sendall(b"GET /recommend/1 HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append(sock)
    try:
        for user_id in range(1, 21):
            response = requests.get(f"{stack.url}/recommend/{user_id}", timeout=1)
            assert response.status_code == 200
        time.sleep(6)  # past nginx's client_header_timeout (5 s)
        closed = 0
        for sock in slow:
            sock.settimeout(2)
            try:
                data = sock.recv(1024)
                closed += data == b"" or data.startswith(b"HTTP/1.1 408")
            except socket.timeout:
                pass  # still open: nginx did not time the slow client out
            except OSError:
                closed += 1  # reset by nginx (reset_timedout_connection)
        assert closed == len(slow), f"only {closed} of {len(slow)} slow connections were closed"
    finally:
        for sock in slow:
            sock.close()
