"""The local stack for tests and benchmarks, from the one description (harness/stackdef.py), in a
run directory of its own on free ports.

- `Stack`: chosen kinds of programs (by default redis, the replicas and nginx; the caller publishes
  models itself) started directly as process groups, so a test can kill or stop any of them.
- `SupervisedStack`: the stack exactly as `make up` runs it (harness/localstack.py under
  supervisord, with the trainer service), for the tests where the process manager must restart
  what gets killed.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import replace
import sys
from pathlib import Path

import redis

from harness import redis_acl
from harness.paths import ROOT, VENV_BIN
from harness.ports import free_port, free_port_run
from harness.processes import Process
from harness.stackdef import Program, StackSettings, programs
from harness.stackfiles import write_all
from harness.waiting import http_get, wait_all_ready, wait_for_port

SERVICE_PASSWORD = "service-password-for-tests"   # nosec B105  # throwaway test stacks only
ADMIN_PASSWORD = "admin-password-for-tests"       # nosec B105  # throwaway test stacks only
# What a test stack's programs must not inherit from the caller's environment.
FOREIGN = ("REDIS_", "NGINX_", "TRAIN_", "INFERENCE_", "GUNICORN_", "WEB_CONCURRENCY", "PROMETHEUS_",
           "MODEL_CACHE", "WEIGHTS_PREFIX", "STACK_", "PORT", "REPLICAS", "DATA_PRESET", "KAFKA_", "INGEST_",
           "SIM_", "EVENT_", "RETRAIN_", "USER_API_", "DATA_DIR", "QUARANTINE_DIR", "ONLINE_", "SERVED_",
           "ALERT", "TRAINER_", "SCRAPE_INTERVAL")


def clean_environment(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that would point a program elsewhere."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN)}
    env.update(extra)
    return env


def scratch_settings(workdir: Path, replicas: int, workers: int = 1, preset: str = "small",
                  passthrough: dict[str, str] | None = None, kafka: str = "") -> StackSettings:
    """Settings for a stack in `workdir` on free ports (`kafka`: an outside broker's bootstrap)."""
    return StackSettings(run_dir=Path(workdir).resolve() / "run", data_root=Path(workdir).resolve() / "data",
                         port=free_port(), replicas=replicas, redis_port=free_port(), status_port=free_port(),
                         base_port=free_port_run(replicas), preset=preset, workers=workers,
                         kafka=kafka, kafka_port=free_port(), ingest_metrics_port=free_port(), sim_api_port=free_port(),
                         online_metrics_port=free_port(),
                         prometheus_port=free_port(), alertmanager_port=free_port(), nginx_exporter_port=free_port(),
                         redis_exporter_port=free_port(), trainer_metrics_port=free_port(),
                         passthrough=dict(passthrough or {}))


class StackProcess(Process):
    """A running program of the description: its port and readiness."""

    def __init__(self, program: Program, env: dict[str, str], log_dir: Path):
        super().__init__(program.name, program.argv, {**env, **program.env}, log_dir / f"{program.name}.log", cwd=ROOT)
        self.program = program

    @property
    def port(self) -> int | None:
        return self.program.port

    def start(self, timeout: float = 30) -> "StackProcess":
        super().start()
        if self.port:
            wait_for_port(self.port, timeout=timeout, proc=self.proc)
        return self

    def readyz(self) -> tuple[int, str]:
        status, body, _ = http_get(self.program.ready_url, timeout=1) if self.program.ready_url else (0, "", {})
        return status, body


class ScratchStack:
    """What both kinds of scratch stack answer: where it is, and an admin Redis client."""

    def __init__(self, settings: StackSettings):
        self.settings = settings
        self.url, self.port, self.status_port = settings.url, settings.port, settings.status_port
        self.model_dir = settings.model_dir

    def admin(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.settings.redis_port, username=redis_acl.ADMIN_USER,
                           password=ADMIN_PASSWORD, socket_timeout=5)


class Stack(ScratchStack):
    """Programs of the stack description in `workdir`; every one is stopped by `close()`."""

    def __init__(self, workdir: Path, replicas: int = 2, workers: int = 1, extra_env: dict[str, str] | None = None,
                 limits: dict[str, str] | None = None, kinds: tuple[str, ...] = ("redis", "inference", "nginx"),
                 preset: str = "small", kafka: str = ""):
        """`kafka`: the bootstrap of a broker outside this stack (another Stack's), which the
        programs use instead of one of their own."""
        self.workdir = Path(workdir)
        super().__init__(scratch_settings(self.workdir, replicas, workers, preset=preset, kafka=kafka, passthrough={
            "MODEL_POLL_INTERVAL": "1", "GUNICORN_THREADS": "4", **(extra_env or {})}))
        self.limits = limits  # nginx's overload knobs (harness.nginx.traffic_limits()); None: the defaults
        self.kinds = kinds
        self.processes: dict[str, StackProcess] = {}

    # -- where it is --------------------------------------------------------------------------
    @property
    def replicas(self) -> list[StackProcess]:
        return [p for p in self.processes.values() if p.program.kind == "inference"]

    @property
    def redis(self) -> StackProcess:
        return self.processes["redis"]

    @property
    def nginx(self) -> StackProcess:
        return self.processes["nginx"]

    def env(self, **extra: str) -> dict[str, str]:
        """What the trainer CLI (or any tool) needs to reach this stack as the services do."""
        return clean_environment(STACK_RUN_DIR=str(self.settings.run_dir), **self.settings.service_env(), **extra)

    # -- running ------------------------------------------------------------------------------
    def start(self) -> "Stack":
        write_all(self.settings, SERVICE_PASSWORD, ADMIN_PASSWORD, limits=self.limits)
        base = clean_environment(PATH=f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}")
        try:
            for program in programs(self.settings):
                if program.kind in self.kinds:
                    if "broker" not in self.kinds and not self.settings.kafka:   # no broker here: nothing to record to
                        program = replace(program, env={k: v for k, v in program.env.items() if k != "KAFKA_BOOTSTRAP_SERVERS"})
                    self.processes[program.name] = StackProcess(program, base, self.settings.logs).start()
        except BaseException:
            self.close()
            raise
        return self

    def wait_ready(self, version: str | None = None, timeout: float = 30.0) -> None:
        """Every replica ready (on `version` when given); TimeoutError otherwise."""
        wait_all_ready([r.program.ready_url for r in self.replicas], version, timeout)

    def close(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            process.stop(sig=3 if process.program.stopsignal == "QUIT" else 15, grace=process.program.stopwaitsecs)


class SupervisedStack(ScratchStack):
    """`make up` (python -m harness.localstack) in a run directory of its own, on free ports."""

    def __init__(self, workdir: Path, replicas: int = 3, preset: str = "small", extra_env: dict[str, str] | None = None):
        super().__init__(scratch_settings(workdir, replicas, workers=1, preset=preset))
        s = self.settings
        self.env = clean_environment(
            STACK_RUN_DIR=str(s.run_dir), STACK_DATA_DIR=str(s.data_root), PORT=str(s.port),
            REDIS_PORT=str(s.redis_port), NGINX_STATUS_PORT=str(s.status_port), INFERENCE_BASE_PORT=str(s.base_port),
            KAFKA_PORT=str(s.kafka_port), INGEST_METRICS_PORT=str(s.ingest_metrics_port), SIM_API_PORT=str(s.sim_api_port),
            ONLINE_METRICS_PORT=str(s.online_metrics_port),
            PROMETHEUS_PORT=str(s.prometheus_port), ALERTMANAGER_PORT=str(s.alertmanager_port),
            NGINX_EXPORTER_PORT=str(s.nginx_exporter_port), REDIS_EXPORTER_PORT=str(s.redis_exporter_port),
            TRAINER_METRICS_PORT=str(s.trainer_metrics_port),
            REPLICAS=str(replicas), DATA_PRESET=preset, WEB_CONCURRENCY="1", MODEL_POLL_INTERVAL="1",
            REDIS_PASSWORD=SERVICE_PASSWORD, REDIS_ADMIN_PASSWORD=ADMIN_PASSWORD, UP_TIMEOUT="240",
            **(extra_env or {}))

    def localstack(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness.localstack", command], env=self.env, cwd=ROOT,  # nosec B603  # this Python, fixed argv
                              capture_output=True, text=True, timeout=timeout)

    def up(self) -> "SupervisedStack":
        result = self.localstack("up")
        if result.returncode != 0:
            self.down()
            raise RuntimeError(f"localstack up failed ({result.returncode}):\n{result.stdout[-4000:]}\n{result.stderr[-2000:]}")
        self.wait_ready()
        return self

    def down(self) -> None:
        self.localstack("down", timeout=120)

    def ctl(self, *args: str) -> str:
        result = subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(self.settings.run_dir / "supervisord.conf"), *args],  # nosec B603  # the venv's supervisorctl
                                capture_output=True, text=True, timeout=60, cwd=ROOT)
        return result.stdout.strip()

    def pid(self, program: str) -> int:
        return int(self.ctl("pid", program))

    def tool_env(self) -> dict[str, str]:
        """A tool's environment beside this stack: only STACK_RUN_DIR, the rest from its stack.env."""
        return clean_environment(STACK_RUN_DIR=str(self.settings.run_dir))

    def replica_url(self, n: int, path: str = "/readyz") -> str:
        return f"http://127.0.0.1:{self.settings.replica_ports[n - 1]}{path}"

    def readyz(self, n: int) -> tuple[int, str]:
        status, body, _ = http_get(self.replica_url(n), timeout=1)
        return status, body

    def metrics(self, n: int) -> str:
        return http_get(self.replica_url(n, "/metrics"), timeout=2)[1]

    def log(self, program: str) -> str:
        return (self.settings.logs / f"{program}.log").read_text(errors="replace")

    def wait_ready(self, version: str | None = None, timeout: float = 60.0) -> None:
        wait_all_ready([self.replica_url(n) for n in range(1, self.settings.replicas + 1)], version, timeout)
