"""The local stack exactly as `make up` runs it (scripts/localstack.py: supervisord, redis with its
ACL users, the trainer service, N gunicorn replicas, nginx), in a run dir of its own on free ports.

Used by the fault tests: supervisord is the process manager that must restart what gets killed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import redis
import requests

from tests.support.processes import ROOT, free_port

VENV_BIN = Path(sys.executable).parent
LOCALSTACK = ROOT / "scripts" / "localstack.py"
SERVICE_PASSWORD = "service-password-for-tests"
ADMIN_PASSWORD = "admin-password-for-tests"


def free_port_run(count: int) -> int:
    """A base port B with B+1..B+count free on loopback (localstack puts replica n on B+n)."""
    for _ in range(100):
        base = free_port()
        if base + count >= 65535:
            continue
        try:
            for offset in range(1, count + 1):
                with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no run of {count} free ports found")


class SupervisedStack:
    def __init__(self, workdir: Path, replicas: int = 3, preset: str = "small", extra_env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.replicas = replicas
        self.port, self.redis_port, self.status_port = free_port(), free_port(), free_port()
        self.base_port = free_port_run(replicas)
        self.run_dir = self.workdir / "run"
        self.model_dir = self.run_dir / "models" / preset
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("REDIS_", "NGINX_", "TRAIN_", "INFERENCE_", "GUNICORN_", "WEB_CONCURRENCY"))}
        self.env.update(
            STACK_RUN_DIR=str(self.run_dir), STACK_DATA_DIR=str(self.workdir / "data"),
            PORT=str(self.port), REDIS_PORT=str(self.redis_port), NGINX_STATUS_PORT=str(self.status_port),
            INFERENCE_BASE_PORT=str(self.base_port), REPLICAS=str(replicas), DATA_PRESET=preset,
            WEB_CONCURRENCY="1", MODEL_POLL_INTERVAL="1", REDIS_PASSWORD=SERVICE_PASSWORD,
            REDIS_ADMIN_PASSWORD=ADMIN_PASSWORD, WEIGHTS_PREFIX="recsys", UP_TIMEOUT="240",
            **(extra_env or {}),
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def replica_port(self, n: int) -> int:
        return self.base_port + n

    def _localstack(self, command: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(LOCALSTACK), command], env=self.env, cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)

    def up(self) -> "SupervisedStack":
        result = self._localstack("up", timeout=300)
        if result.returncode != 0:
            self.down()
            raise RuntimeError(f"localstack up failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
        self.wait_ready()
        return self

    def down(self) -> None:
        self._localstack("down", timeout=120)

    def ctl(self, *args: str) -> str:
        result = subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(self.run_dir / "supervisord.conf"), *args],
                                capture_output=True, text=True, timeout=60, cwd=ROOT)
        return result.stdout.strip()

    def pid(self, program: str) -> int:
        return int(self.ctl("pid", program))

    def service_env(self) -> dict[str, str]:
        """What the trainer CLI needs to reach this stack's Redis as the services do."""
        return dict(self.env, REDIS_HOST="127.0.0.1", REDIS_PORT=str(self.redis_port), REDIS_USERNAME="recsys",
                    REDIS_PASSWORD=SERVICE_PASSWORD)

    def admin(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.redis_port, username="admin", password=ADMIN_PASSWORD,
                           socket_timeout=5)

    def readyz(self, n: int) -> tuple[int, str]:
        try:
            response = requests.get(f"http://127.0.0.1:{self.replica_port(n)}/readyz", timeout=1)
            return response.status_code, response.text
        except requests.RequestException:
            return 0, ""

    def metrics(self, n: int) -> str:
        return requests.get(f"http://127.0.0.1:{self.replica_port(n)}/metrics", timeout=2).text

    def log(self, program: str) -> str:
        return (self.run_dir / "logs" / f"{program}.log").read_text(errors="replace")

    def wait_ready(self, version: str | None = None, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        states = []
        while time.monotonic() < deadline:
            states = [self.readyz(n) for n in range(1, self.replicas + 1)]
            if all(code == 200 and (version is None or text == version) for code, text in states):
                return
            time.sleep(0.1)
        raise TimeoutError(f"replicas not ready on {version or 'any version'} after {timeout}s: {states}")
