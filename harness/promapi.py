"""Prometheus's HTTP API as the monitoring tests and demos read it: instant queries and the alerts
it holds (/api/v1/alerts), with waits that raise when something does not happen."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from harness.waiting import wait_until

_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Prometheus:
    def __init__(self, port: int, host: str = "127.0.0.1"):
        self.base = f"http://{host}:{port}"

    def _get(self, path: str, **params: str) -> dict:
        url = f"{self.base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        with _HTTP.open(url, timeout=10) as response:  # nosec B310  # loopback URL built by the harness
            body = json.loads(response.read())
        if body.get("status") != "success":
            raise RuntimeError(f"GET {url}: {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        """An instant query's result (vector samples, or one scalar as a one-sample list)."""
        data = self._get("/api/v1/query", query=expr)
        if data["resultType"] in ("scalar", "string"):
            return [{"metric": {}, "value": data["result"]}]
        return data["result"]

    def alerts(self, name: str, state: str | None = None) -> list[dict]:
        """The alerts named `name` Prometheus holds now ("pending" / "firing" when `state` is given)."""
        return [a for a in self._get("/api/v1/alerts")["alerts"]
                if a["labels"].get("alertname") == name and (state is None or a["state"] == state)]

    def targets_up(self, job: str) -> list[bool]:
        return [t["health"] == "up" for t in self._get("/api/v1/targets")["activeTargets"] if t["labels"].get("job") == job]

    def wait_alert(self, name: str, state: str, timeout: float) -> list[dict]:
        return wait_until(lambda: self.alerts(name, state), timeout, f"alert {name} {state} in Prometheus", interval=0.2)

    def wait_gone(self, name: str, timeout: float) -> None:
        wait_until(lambda: not self.alerts(name), timeout, f"alert {name} resolved in Prometheus", interval=0.2)
