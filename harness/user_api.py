"""A real local HTTP server that plays the simulator's user API (outside our system)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from harness.bundles import OCCUPATIONS


class FakeUserAPI:
    """GET /user/<id>: attributes for ids in `users`, {"message": "invalid userID"} otherwise.

    `mode` switches behaviour at run time: "ok", "slow" (answers after `delay`), "garbage"
    (not JSON), "hang" (never answers within any sane timeout).
    """

    def __init__(self, users: dict[int, dict] | None = None, delay: float = 1.0):
        self.users = users if users is not None else {
            uid: {"user_id": uid, "age": 20 + uid % 40, "occupation": OCCUPATIONS[uid % 3], "gender": "MF"[uid % 2]}
            for uid in range(5000, 5100)
        }
        self.mode = "ok"
        self.delay = delay
        self.calls = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                api.calls += 1
                if api.mode == "slow":
                    time.sleep(api.delay)
                elif api.mode == "hang":
                    time.sleep(30)
                    return
                if api.mode == "garbage":
                    body = b"<html>oops"
                else:
                    try:
                        uid = int(self.path.rsplit("/", 1)[-1])
                    except ValueError:
                        uid = -1
                    body = json.dumps(api.users.get(uid, {"message": "invalid userID"})).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up first

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeUserAPI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
