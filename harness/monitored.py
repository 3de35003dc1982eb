"""A stack with its monitoring under simulator load, and faults checked against its alerts: what
tests/monitoring/test_live.py and loadtests/alert_faults.py (make alerts-demo) run.

`MonitoredStack`: real processes from the stack description (redis, the broker, the trainer
service, the ingester, the online evaluator, the replicas, nginx, both exporters, Alertmanager,
Prometheus), a webhook receiver (harness/webhook.py) Alertmanager delivers to, a user API whose
speed can be switched (harness/user_api.py), and the simulator playing users. Prometheus scrapes
every second and evaluates a copy of the production rules with a short `for:` and short range
windows (monitoring.fast_rules); the production files keep theirs.

`Faults.check(name, inject, repair)`: the alert fires in /api/v1/alerts within its for: plus two
scrape intervals and one evaluation, reaches the webhook within that plus Alertmanager's
group_wait, and resolves in both after the repair; the seconds are kept for the report.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import monitoring
from harness.paths import VENV_BIN
from harness.promapi import Prometheus
from harness.stack import Stack, clean_environment
from harness.stackdef import programs
from harness.user_api import FakeUserAPI
from harness.waiting import wait_until
from harness.webhook import WebhookReceiver

KINDS = ("redis", "broker", "trainer", "ingest", "evaluator", "inference", "nginx", "nginx-exporter", "redis-exporter",
         "alertmanager", "prometheus")
SCRAPE, FOR, EVAL = 1.0, 2.0, 1.0
GROUP_WAIT = 2.0                       # monitoring/alertmanager/alertmanager.yml
FIRE_WITHIN = FOR + 2 * SCRAPE + EVAL


class MonitoredStack:
    def __init__(self, workdir: Path, replicas: int = 2, sim_rate: int = 10, extra_env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.receiver = WebhookReceiver()
        self.user_api = FakeUserAPI(delay=0.5)
        self.sim_rate = sim_rate
        self.extra_env = {"USER_API_TIMEOUT": "1.0", "USER_CACHE_TTL": "1", "RETRAIN_INTERVAL": "0",
                          "RETRAIN_MIN_EVENTS": "0", "INGEST_BATCH_SECONDS": "0.5", "TRAIN_EPOCHS": "5", **(extra_env or {})}
        self.replica_count = replicas
        self.stack: Stack | None = None
        self.simulator: subprocess.Popen | None = None
        self.prometheus: Prometheus | None = None

    def __enter__(self) -> "MonitoredStack":
        self.receiver.__enter__()
        self.user_api.__enter__()
        try:
            self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def start(self) -> None:
        stack = Stack(self.workdir / "stack", replicas=self.replica_count,
                      extra_env={"USER_API_URL": self.user_api.url, **self.extra_env})
        stack.settings = stack.settings.with_(scrape_interval=int(SCRAPE), alert_webhook_url=self.receiver.url,
                                              rules_dir=str(monitoring.fast_rules(self.workdir / "rules", int(FOR))))
        stack.kinds = tuple(k for k in KINDS if k in {p.kind for p in programs(stack.settings)})
        self.stack = stack
        started = time.monotonic()
        stack.start()
        stack.wait_ready(timeout=180)   # the trainer service generates, trains and publishes
        self.ready_seconds = time.monotonic() - started
        env = clean_environment(**stack.settings.service_env(), SIM_DURATION="3600", SIM_RATE=str(self.sim_rate),
                                SIM_SPEED="240", SIM_BAD_SHARE="0.01", SIM_TRUTH_JSON=str(self.workdir / "truth.json"))
        with open(self.workdir / "simulator.log", "wb") as log:
            self.simulator = subprocess.Popen([str(VENV_BIN / "simulator")], env=env, stdout=log, stderr=subprocess.STDOUT)  # nosec B603  # the venv's simulator
        self.prometheus = Prometheus(stack.settings.prometheus_port)
        wait_until(lambda: all(self.prometheus.targets_up("inference") or [False]), 30, "Prometheus scraping the replicas",
                   interval=0.5)

    def __exit__(self, *exc) -> None:
        if self.simulator is not None:
            self.simulator.terminate()
            try:
                self.simulator.wait(20)
            except subprocess.TimeoutExpired:
                self.simulator.kill()
        if self.stack is not None:
            self.stack.close()
        self.user_api.__exit__(None, None, None)
        self.receiver.__exit__(None, None, None)


@dataclass
class Faults:
    """Faults against one MonitoredStack; `timings[name]` = (fired in Prometheus, at the webhook,
    resolved at the webhook), seconds after the fault began or ended."""
    monitored: MonitoredStack
    timings: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def check(self, name: str, inject, repair, timeout: float = FIRE_WITHIN, resolve_timeout: float = 30.0) -> None:
        prom, receiver = self.monitored.prometheus, self.monitored.receiver
        if prom.alerts(name, "firing"):
            raise AssertionError(f"{name} fires before its fault")
        began = time.monotonic()
        inject()
        try:
            prom.wait_alert(name, "firing", timeout + 10)   # waited for longer, to report how late it was
            fired = time.monotonic() - began
            wait_until(lambda: receiver.alerts(name, "firing", since=began), timeout + GROUP_WAIT + 10,
                       f"{name} firing at the webhook", interval=0.2)
            delivered = time.monotonic() - began
        finally:
            repair()
        ended = time.monotonic()
        prom.wait_gone(name, resolve_timeout)
        wait_until(lambda: receiver.alerts(name, "resolved", since=ended), resolve_timeout + 15,
                   f"{name} resolved at the webhook", interval=0.2)
        self.timings[name] = (fired, delivered, time.monotonic() - ended)
        if fired > timeout + 1.0:
            raise AssertionError(f"{name} fired after {fired:.1f} s (allowed {timeout:.0f} s)")
        if delivered > timeout + GROUP_WAIT + 1.5:
            raise AssertionError(f"{name} reached the webhook after {delivered:.1f} s (allowed {timeout + GROUP_WAIT:.0f} s)")

    def report(self) -> str:
        lines = ["alert: fired in Prometheus / at the webhook / resolved at the webhook (s after the fault began / ended)"]
        lines += [f"  {name}: {a:.1f} / {b:.1f} / {c:.1f}" for name, (a, b, c) in self.timings.items()]
        return "\n".join(lines)


# -- the faults, each named after the alert it must fire -------------------------------------------
def replica_down(faults: Faults) -> None:
    stack = faults.monitored.stack
    first = stack.replicas[0]
    faults.check("InferenceReplicaDown", first.kill, first.start)
    wait_until(lambda: all(faults.monitored.prometheus.targets_up("inference")), 20, "every replica scraped again",
               interval=0.5)
    stack.wait_ready(timeout=30)


def no_replica(faults: Faults) -> None:
    stack = faults.monitored.stack

    def all_down():
        for replica in stack.replicas:
            replica.kill()

    def all_up():
        for replica in stack.replicas:
            replica.start()

    faults.check("InferenceNoReplicaAvailable", all_down, all_up)
    stack.wait_ready(timeout=30)


def redis_down(faults: Faults) -> None:
    redis = faults.monitored.stack.redis
    faults.check("RedisDown", redis.kill, redis.start)


def ingest_down(faults: Faults) -> None:
    ingest = faults.monitored.stack.processes["ingest"]
    faults.check("IngestConsumerDown", ingest.kill, ingest.start)


def slow_replicas(faults: Faults) -> None:
    """Users the model does not know while the user API takes 0.5 s: p99 over 300 ms."""
    import random

    from harness.loop import RequestLoop

    monitored = faults.monitored
    loop = RequestLoop(monitored.stack.url, [random.randrange(50_000_000, 90_000_000) for _ in range(20000)],  # nosec B311  # test ids
                       clients=4, timeout=2.0)

    def slow():
        monitored.user_api.mode = "slow"
        loop.__enter__()

    def fast():
        monitored.user_api.mode = "ok"
        loop.__exit__(None, None, None)

    # The range window must first fill with slow answers: a longer allowance than for: alone.
    faults.check("RecommendLatencyP99High", slow, fast, timeout=FIRE_WITHIN + 12, resolve_timeout=40)


def corrupt_version(faults: Faults) -> None:
    """A bad canary: a copy of the current version with a chunk that fails its checksum, made
    current; every replica refuses it and keeps its model; the pointer goes back after."""
    import redis as redis_lib

    from common.weightcache import WeightStore
    from harness import redis_acl
    from harness.stack import SERVICE_PASSWORD

    stack = faults.monitored.stack
    client = redis_lib.Redis(port=stack.settings.redis_port, username=redis_acl.SERVICE_USER, password=SERVICE_PASSWORD)
    weights = WeightStore(client, prefix=stack.settings.prefix)
    good = weights.current_version()

    def publish_corrupt():
        _, arrays = weights.fetch(good)
        bad = weights.publish(arrays, make_current=False)
        chunk = next(stack.admin().scan_iter(match=f"{stack.settings.prefix}:v:{bad}:a:item_vectors:*"))
        stack.admin().setrange(chunk, 10, b"\xff\xff\xff\xff")
        weights.set_current(bad)

    faults.check("ModelVersionRefused", publish_corrupt, lambda: weights.set_current(good), resolve_timeout=40)
    stack.wait_ready(good, timeout=10)


FAULTS = {"InferenceReplicaDown": replica_down, "InferenceNoReplicaAvailable": no_replica, "RedisDown": redis_down,
          "IngestConsumerDown": ingest_down, "RecommendLatencyP99High": slow_replicas,
          "ModelVersionRefused": corrupt_version}
