"""The nginx config (nginx/templates/recsys.conf.template) on a real nginx.

Real nginx in the foreground, started from the stack description (harness.stack.Stack with only
its nginx) on free ports, in front of two tiny HTTP backends running in this process, listening
where the description's replicas would. The backends only stand in for the replicas
so the config's behaviour can be checked; the real replicas are tested end to end elsewhere.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import nginx as render_nginx
from harness.ports import free_port
from harness.stack import Stack as StackPrograms
from harness.waiting import wait_for_port


class Backend:
    """A stand-in replica: answers GET with its name, or 503, or stalls, or is gone."""

    def __init__(self, name: str, port: int = 0):
        self.name = name
        self.mode = "ok"  # ok | 503 | slow | held (answers once `release` is set, at most after 0.24 s)
        self.release = threading.Event()
        self.drops = 0  # this many next requests get their connection closed without an answer
        self.hits: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        backend = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like gunicorn's gthread worker

            def setup(self):
                super().setup()
                with backend._lock:
                    backend._conns.add(self.connection)

            def finish(self):
                with backend._lock:
                    backend._conns.discard(self.connection)
                super().finish()

            def do_GET(self):
                with backend._lock:
                    backend.hits.append({"method": self.command, "path": self.path,
                                         **{k.lower(): v for k, v in self.headers.items()}})
                with backend._lock:
                    drop, backend.drops = backend.drops > 0, max(0, backend.drops - 1)
                if drop:  # nginx: "upstream prematurely closed connection", an error
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if backend.mode == "slow":
                    time.sleep(1.5)
                elif backend.mode == "held":  # below nginx's 250 ms read timeout, so never retried
                    backend.release.wait(0.24)
                status, body = (503, b"not ready\n") if backend.mode == "503" else (200, f"{backend.name}\n".encode())
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(body)
                except OSError:  # nginx gave up on us (the stalled case)
                    self.close_connection = True

            do_HEAD = do_GET
            do_POST = do_GET  # must never be reached through nginx
            do_DELETE = do_GET

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.stopped = False

    def stop(self) -> None:
        """Gone: listening socket closed and every open (keep-alive) connection cut."""
        if self.stopped:
            return
        self.stopped = True
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def assert_one_liner(body: str) -> None:
    """nginx's own error answers: one short plain-text line, like the replicas' (no HTML)."""
    assert body and "\n" not in body and len(body) < 100 and "<" not in body, body


class Stack:
    def __init__(self, programs: StackPrograms, backends: list[Backend]):
        self.programs, self.backends = programs, backends
        self.port, self.status_port = programs.port, programs.status_port
        self.proc = programs.nginx.proc

    def request(self, method: str, path: str, headers: dict[str, str] | None = None, port: int | None = None,
                host: str = "127.0.0.1", body: bytes | None = None, source: str | None = None):
        """``source``: the client's own address (127.0.0.x), to play several clients."""
        conn = http.client.HTTPConnection(host, port or self.port, timeout=5,
                                          source_address=(source, 0) if source else None)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read().decode()
        finally:
            conn.close()

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)


@pytest.fixture
def start_stack(tmp_path):
    """Start nginx (with these overload limits, or the defaults) in front of two stand-in replicas."""
    backends, started = [], []

    def start(limits: dict[str, str] | None = None) -> Stack:
        programs = StackPrograms(tmp_path / f"nginx-{len(started)}", replicas=2, kinds=("nginx",),
                                 limits=limits or render_nginx.traffic_limits({}, replicas=2))
        backends.extend([Backend(name, port) for name, port in zip("ab", programs.settings.replica_ports)])
        started.append(programs.start())
        wait_for_port(programs.status_port, timeout=10, proc=programs.nginx.proc)
        return Stack(programs, backends[-2:])

    yield start
    for programs in started:
        programs.close()
    for b in backends:
        b.stop()


@pytest.fixture
def stack(start_stack):
    return start_stack()


def test_rendered_config_passes_nginx_t_and_leaves_nginx_variables_alone(tmp_path):
    conf = render_nginx.render_local_config(tmp_path, free_port(), [free_port(), free_port()], free_port())
    text = (tmp_path / "nginx" / "recsys.conf").read_text()
    assert "${" not in text and "${" not in conf.read_text()
    assert "$upstream_addr" in text and "$request_id" in text
    assert "listen 127.0.0.1:" in text  # the status server


def test_template_fits_the_official_image_http_block(tmp_path):
    """Included the way nginx:1.30 includes conf.d/*.conf, next to its own http-level settings.

    (nginx 1.22 here has no upstream `resolve`, so the compose-style server line is checked
    without it.)
    """
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "recsys.conf").write_text(render_nginx.render_file(render_nginx.RECSYS_TEMPLATE, {
        "NGINX_PORT": str(free_port()),
        "NGINX_UPSTREAM_SERVERS": "server localhost:8000 max_fails=2 fail_timeout=2s;",
        "NGINX_LOCAL_RESOLVERS": "127.0.0.11",
        "NGINX_STATUS_PORT": str(free_port()),
        "NGINX_ACCESS_LOG": "/dev/stdout",
        **render_nginx.traffic_limits({}),
    }))
    main = tmp_path / "nginx.conf"
    main.write_text(f"""
pid {tmp_path}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    log_format main '$remote_addr - $remote_user [$time_local] "$request" $status';
    access_log {tmp_path}/access.log main;
    sendfile on;
    keepalive_timeout 65;
    include {conf_d}/*.conf;
}}
""")
    render_nginx.check_config(main, error_log=tmp_path / "error.log")


def test_render_refuses_unfilled_variables():
    with pytest.raises(render_nginx.NginxConfigError, match="NGINX_STATUS_PORT"):
        render_nginx.render("listen ${NGINX_PORT}; listen ${NGINX_STATUS_PORT}; $host", {"NGINX_PORT": "1"})


def test_requests_reach_both_replicas_with_request_id(stack):
    answers = [stack.get("/recommend/1") for _ in range(20)]
    assert all(status == 200 for status, _, _ in answers)
    assert {body.strip() for _, _, body in answers} == {"a", "b"}
    assert all(len(stack.backends[i].hits) >= 5 for i in range(2))
    hit = stack.backends[0].hits[0]
    assert hit["path"] == "/recommend/1" and hit.get("x-request-id")
    status, headers, _ = stack.get("/recommend/2", headers={"X-Request-ID": "sim-42"})
    assert status == 200 and headers["X-Request-ID"] == "sim-42"
    assert any(h.get("x-request-id") == "sim-42" for b in stack.backends for h in b.hits)


def test_503_replica_is_retried_on_the_other(stack):
    stack.backends[0].mode = "503"
    answers = [stack.get(f"/recommend/{i}") for i in range(10)]
    assert [(s, body.strip()) for s, _, body in answers] == [(200, "b")] * 10
    assert stack.backends[0].hits, "nginx never tried the 503 replica"


def test_closed_replica_is_retried_on_the_other(stack):
    for i in range(4):  # open keep-alive connections to both first
        assert stack.get(f"/recommend/{i}")[0] == 200
    stack.backends[1].stop()
    answers = [stack.get(f"/recommend/{i}") for i in range(10)]
    assert [(s, body.strip()) for s, _, body in answers] == [(200, "a")] * 10


def test_no_replica_left_gives_a_short_plain_text_502(stack):
    for b in stack.backends:
        b.stop()
    status, headers, body = stack.get("/recommend/1")
    assert status == 502
    assert headers["Content-Type"].startswith("text/plain")
    assert_one_liner(body)


def test_a_502_gets_one_more_pass_through_the_upstream(stack):
    """Both tries fail (each replica drops its connection once): nginx's 502 is not the answer, a
    second pass with a fresh choice of replica is (the guard against nginx/nginx#1656)."""
    for backend in stack.backends:
        backend.drops = 1
    status, headers, body = stack.get("/recommend/1")
    assert status == 200 and body.strip() in ("a", "b")
    assert sum(len(b.hits) for b in stack.backends) == 3
    for backend in stack.backends:
        backend.drops = 5  # the second pass fails too: the plain one-line 502
    status, headers, body = stack.get("/recommend/2")
    assert status == 502
    assert_one_liner(body)


def test_stalled_replica_is_cut_inside_the_simulator_budget(stack):
    for b in stack.backends:
        b.mode = "slow"
    started = time.monotonic()
    status, headers, body = stack.get("/recommend/1")
    elapsed = time.monotonic() - started
    assert status == 504 and headers["Content-Type"].startswith("text/plain")
    assert_one_liner(body)
    assert elapsed < 0.8, elapsed  # cut and retried inside the simulator's budget


def test_only_get_and_head(stack):
    status, headers, body = stack.request("POST", "/recommend/1", body=b"x=1")
    assert status == 405
    assert headers.get("Allow") == "GET, HEAD"
    assert_one_liner(body)
    assert stack.request("DELETE", "/recommend/1")[0] == 405
    assert stack.request("POST", "/readyz")[0] == 405
    assert stack.request("HEAD", "/recommend/1")[0] == 200
    assert {h["method"] for b in stack.backends for h in b.hits} == {"HEAD"}


def test_oversized_header_is_refused_by_nginx(stack):
    status, headers, body = stack.get("/recommend/1", headers={"X-Filler": "a" * 16000})
    assert 400 <= status < 500
    assert_one_liner(body)
    assert not any(b.hits for b in stack.backends)


@pytest.mark.parametrize("path", ["/recommend/%00", "/recommend/" + "1" * 5000])
def test_malformed_request_lines_get_a_plain_text_4xx(stack, path):
    """Refused while nginx parses the request line (before any location): still no HTML."""
    status, headers, body = stack.get(path)
    assert status in (400, 414)
    assert headers["Content-Type"].startswith("text/plain")
    assert_one_liner(body)
    assert not any(b.hits for b in stack.backends)


def test_status_only_on_loopback_status_port(stack):
    status, _, body = stack.get("/nginx_status", port=stack.status_port)
    assert status == 200 and "Active connections" in body
    status, _, body = stack.get("/nginx_status")
    assert status == 404 and "Active connections" not in body
    # The public port listens on every address, the status port on 127.0.0.1 only.
    assert stack.get("/healthz", host="127.0.0.2")[0] == 200
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.2", stack.status_port), timeout=1).close()


def test_healthz_and_server_header(stack):
    status, headers, body = stack.get("/healthz")
    assert (status, body) == (200, "ok")
    assert headers["Server"] == "nginx"
    assert stack.get("/no/such/path")[1]["Server"] == "nginx"
    status, headers, _ = stack.get("/recommend/1")
    assert headers["Server"] == "nginx" and headers.get("X-Upstream")
    assert stack.get("/readyz")[0] == 200  # proxied to a replica
    assert any(h["path"] == "/readyz" for b in stack.backends for h in b.hits)


def test_requests_beyond_the_inflight_limit_are_shed_at_once_with_a_plain_503(start_stack):
    stack = start_stack(render_nginx.traffic_limits({}, max_inflight=2))
    for backend in stack.backends:
        backend.mode = "held"
    held = []
    threads = [threading.Thread(target=lambda i=i: held.append(stack.get(f"/recommend/{i}"))) for i in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 5
    while sum(len(b.hits) for b in stack.backends) < 2 and time.monotonic() < deadline:
        time.sleep(0.002)
    shed = [stack.get(f"/recommend/{i}") for i in range(10, 14)]  # while both are held by the replicas
    released_early = any(t_.is_alive() is False for t_ in threads)
    for backend in stack.backends:
        backend.release.set()
    for thread in threads:
        thread.join(5)
    assert not released_early, "the held requests finished before the extra ones were sent; cannot check"
    assert [s for s, _, _ in held] == [200, 200]
    for status, headers, body in shed:
        assert status == 503
        assert headers["Retry-After"] == "1"
        assert_one_liner(body)
        assert "overloaded" in body
    assert sum(len(b.hits) for b in stack.backends) == 2  # the shed requests never reached a replica
    assert stack.get("/readyz")[0] == 200  # probes are not counted against the limit


def test_one_client_over_its_rate_gets_429_while_another_is_served(start_stack):
    stack = start_stack(render_nginx.traffic_limits({}, replicas=2, client_rate=2, client_burst=3))
    greedy = [stack.get(f"/recommend/{i}", source="127.0.0.2") for i in range(12)]
    statuses = [status for status, _, _ in greedy]
    assert statuses[:4] == [200] * 4  # one at the rate plus a burst of 3
    assert statuses.count(429) >= 6, statuses
    status, headers, body = next(answer for answer in greedy if answer[0] == 429)
    assert headers["Retry-After"] == "1"
    assert_one_liner(body)
    assert [stack.get(f"/recommend/{i}", source="127.0.0.3")[0] for i in range(3)] == [200, 200, 200]


@pytest.mark.parametrize("bad", [{"NGINX_MAX_INFLIGHT": "0"}, {"NGINX_CLIENT_RATE": "fast"}, {"NGINX_CLIENT_BURST": "-1"}])
def test_bad_limit_settings_are_refused_with_their_name(bad):
    with pytest.raises(render_nginx.NginxConfigError, match=next(iter(bad))):
        render_nginx.traffic_limits(bad)


def test_inflight_limit_defaults_to_a_share_per_worker():
    assert render_nginx.traffic_limits({}, replicas=3, workers=2)["NGINX_MAX_INFLIGHT"] == str(6 * render_nginx.INFLIGHT_PER_WORKER)
    assert render_nginx.traffic_limits({"NGINX_MAX_INFLIGHT": "500"}, replicas=3)["NGINX_MAX_INFLIGHT"] == "500"
    assert render_nginx.traffic_limits({})["NGINX_MAX_INFLIGHT"] == "128"  # unknown replicas: as compose
