"""A real local HTTP server that receives Alertmanager's webhook notifications (outside our
system, like the operator's chat or pager): what the monitoring tests and demos point
ALERT_WEBHOOK_URL at."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class WebhookReceiver:
    """POST /alerts: every notification body (Alertmanager's webhook JSON) is kept, with when it came."""

    def __init__(self):
        self.notifications: list[tuple[float, dict]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    body = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    body = {"unparsable": True}
                with receiver._lock:
                    receiver.notifications.append((time.monotonic(), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/alerts"

    def alerts(self, name: str, status: str | None = None, since: float = 0.0) -> list[dict]:
        """Every alert named `name` delivered after `since` (time.monotonic()), with `status`
        ("firing" / "resolved") when given."""
        with self._lock:
            found = list(self.notifications)
        return [a for at, body in found if at >= since for a in body.get("alerts", [])
                if a.get("labels", {}).get("alertname") == name and (status is None or a.get("status") == status)]

    def __enter__(self) -> "WebhookReceiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
