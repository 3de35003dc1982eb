"""Waiting for something to become true, and plain HTTP probes. A wait that runs out raises."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from typing import Callable, TypeVar

T = TypeVar("T")

# No proxy for our own loopback requests, whatever http_proxy says.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05,
               proc: subprocess.Popen | None = None) -> T:
    """The first truthy value of `check()` within `timeout` seconds; TimeoutError naming `what`
    (and the last value seen) otherwise, RuntimeError at once when `proc` exits first."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what}: process {proc.args!r} exited with {proc.returncode}")
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {timeout:g} s (last: {last!r})")
        time.sleep(interval)


def listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_port(port: int, timeout: float = 15.0, proc: subprocess.Popen | None = None) -> None:
    wait_until(lambda: listening(port), timeout, f"something listening on 127.0.0.1:{port}", proc=proc)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str, dict[str, str]]:
    """(status, body, headers); status 0 with the error text when there is no HTTP answer."""
    try:
        with _HTTP.open(url, timeout=timeout) as resp:  # nosec B310  # loopback URLs built by the harness
            return resp.status, resp.read(65536).decode(errors="replace"), dict(resp.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, error.read(65536).decode(errors="replace"), dict(error.headers.items())
    except (OSError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", error)
        return 0, f"{reason.__class__.__name__}: {reason}", {}


def ready_version(url: str, timeout: float = 1.0) -> str | None:
    """The model version a `/readyz` at `url` serves (its X-Model-Version), None when not ready."""
    status, _, headers = http_get(url, timeout)
    if status != 200:
        return None
    return next((v for k, v in headers.items() if k.lower() == "x-model-version" and v), None)


def wait_all_ready(urls: list[str], version: str | None = None, timeout: float = 30.0) -> None:
    """Every `/readyz` in `urls` ready (on `version` when given); TimeoutError naming what they serve."""
    def versions() -> list[str | None]:
        return [ready_version(url) for url in urls]

    wait_until(lambda: all(v is not None and (version is None or v == version) for v in versions()),
               timeout, f"replicas ready on {version or 'any version'} ({versions()})", interval=0.1)
