"""The serving stack as real processes on loopback: redis-server, gunicorn replicas, nginx."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from scripts.render_nginx import nginx_binary, render_local_config, traffic_limits
from tests.support.processes import ROOT, RedisServer, free_port, wait_for_port

VENV_BIN = Path(sys.executable).parent


class Replica:
    def __init__(self, name: str, port: int, env: dict[str, str], log_path: Path):
        self.name, self.port, self.env, self.log_path = name, port, env, log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Replica":
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "services/inference/gunicorn.conf.py"),
             "--bind", f"127.0.0.1:{self.port}", "inference.app:create_app()"],
            env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
        )
        wait_for_port(self.port, timeout=30, proc=self.proc)
        return self

    def kill(self, sig=signal.SIGKILL) -> None:
        """Kill the master and its workers, as a crashed replica would go."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(15)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)

    def readyz(self) -> tuple[int, str]:
        try:
            response = requests.get(f"http://127.0.0.1:{self.port}/readyz", timeout=1)
            return response.status_code, response.text
        except requests.RequestException:
            return 0, ""


class Stack:
    """redis + N replicas + nginx in `workdir`; every process is stopped by `close()`."""

    def __init__(self, workdir: Path, replicas: int = 2, workers: int = 1, extra_env: dict[str, str] | None = None,
                 limits: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.redis = RedisServer(self.workdir / "redis")
        self.n_replicas = replicas
        self.workers = workers
        self.extra_env = extra_env or {}
        self.limits = limits  # nginx overload knobs (render_nginx.traffic_limits()); None: the defaults
        self.replicas: list[Replica] = []
        self.nginx: subprocess.Popen | None = None
        self.port = free_port()
        self.status_port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "PROMETHEUS_", "MODEL_CACHE"))}
        env.update(self.redis.env, WEIGHTS_PREFIX="recsys", MODEL_POLL_INTERVAL="1", WEB_CONCURRENCY=str(self.workers),
                   GUNICORN_THREADS="4", **self.extra_env, **extra)
        return env

    def start(self) -> "Stack":
        (self.workdir / "logs").mkdir(parents=True, exist_ok=True)
        self.redis.start()
        for index in range(1, self.n_replicas + 1):
            name = f"inference-{index}"
            replica = Replica(name, free_port(), self.env(INFERENCE_REPLICA_NAME=name), self.workdir / "logs" / f"{name}.log")
            self.replicas.append(replica.start())
        conf = render_local_config(self.workdir, self.port, [r.port for r in self.replicas], self.status_port,
                                   limits=self.limits or traffic_limits({}, replicas=len(self.replicas), workers=self.workers))
        self.nginx = subprocess.Popen([nginx_binary(), "-c", str(conf), "-e", str(self.workdir / "logs/nginx-error.log")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port, proc=self.nginx)
        return self

    def wait_ready(self, version: str | None = None, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = [r.readyz() for r in self.replicas]
            if all(code == 200 and (version is None or text == version) for code, text in states):
                return
            time.sleep(0.05)
        raise TimeoutError(f"replicas not ready on {version or 'any version'} after {timeout}s: {states}")

    def close(self) -> None:
        if self.nginx and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(10)
        for replica in self.replicas:
            replica.stop()
        self.redis.stop()
