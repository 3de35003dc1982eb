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

The faults (`FAULTS`, one per alert; CanaryRolledBack waits for issue #15) use the programs' own
settings where one is needed: a program is restarted with it (`_restart`), e.g. the trainer with
TRAINER_MODEL_MAX_AGE=1, or with RETRAIN_INTERVAL=3 and TRAIN_MAX_MALFORMED=0; the ingester with
INGEST_BATCH_SECONDS / INGEST_BATCH_LINES that make it hold what it consumed; the simulator with
another world (SIM_SEED). EventDiskNearlyFull needs the event directory
on a file system of its own: `MonitoredStack(event_disk_mb=N)` mounts a tmpfs there (root only).
Where an alert's own windows are in simulated time or refreshed slowly (the online evaluation's
hour, the ingester's count of lines behind, every 30 s), the fault waits for that first, or its
allowance says so.
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
SIM_SPEED = 240                        # simulated seconds per wall-clock second
GROUP_WAIT = 2.0                       # monitoring/alertmanager/alertmanager.yml
FIRE_WITHIN = FOR + 2 * SCRAPE + EVAL


class MonitoredStack:
    def __init__(self, workdir: Path, replicas: int = 2, sim_rate: int = 10, extra_env: dict[str, str] | None = None,
                 event_disk_mb: int = 0):
        self.workdir = Path(workdir)
        self.event_disk_mb = event_disk_mb   # > 0 (root only): the event directory on a tmpfs of this size
        self.event_disk: Path | None = None
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
        if self.event_disk_mb:
            self.event_disk = stack.settings.data_dir / "events"
            self.event_disk.mkdir(parents=True, exist_ok=True)
            subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.event_disk_mb}m,mode=0755", "tmpfs",  # nosec B603 B607  # the system's mount
                            str(self.event_disk)], check=True)
        started = time.monotonic()
        stack.start()
        stack.wait_ready(timeout=180)   # the trainer service generates, trains and publishes
        self.ready_seconds = time.monotonic() - started
        self.sim_env = clean_environment(**stack.settings.service_env(), SIM_DURATION="3600", SIM_RATE=str(self.sim_rate),
                                         SIM_SPEED=str(SIM_SPEED), SIM_BAD_SHARE="0.01",
                                         SIM_TRUTH_JSON=str(self.workdir / "truth.json"))
        self.start_simulator()
        self.prometheus = Prometheus(stack.settings.prometheus_port)
        wait_until(lambda: all(self.prometheus.targets_up("inference") or [False]), 30, "Prometheus scraping the replicas",
                   interval=0.5)

    def start_simulator(self, **changes: str) -> None:
        """Start the simulator with its settings, `changes` applied (kept for later starts)."""
        self.sim_env.update(changes)
        with open(self.workdir / "simulator.log", "ab") as log:
            self.simulator = subprocess.Popen([str(VENV_BIN / "simulator")], env=self.sim_env, stdout=log, stderr=subprocess.STDOUT)  # nosec B603  # the venv's simulator

    def stop_simulator(self) -> None:
        if self.simulator is not None:
            self.simulator.terminate()
            try:
                self.simulator.wait(20)
            except subprocess.TimeoutExpired:
                self.simulator.kill()
                self.simulator.wait()

    def __exit__(self, *exc) -> None:
        self.stop_simulator()
        if self.stack is not None:
            self.stack.close()
        if self.event_disk is not None:
            subprocess.run(["umount", "--lazy", str(self.event_disk)], check=False)  # nosec B603 B607  # the system's umount
        self.user_api.__exit__(None, None, None)
        self.receiver.__exit__(None, None, None)


@dataclass
class Faults:
    """Faults against one MonitoredStack; `timings[name]` = (fired in Prometheus, at the webhook,
    resolved at the webhook), seconds after the fault began or its repair began."""
    monitored: MonitoredStack
    timings: dict[str, tuple[float, float, float]] = field(default_factory=dict)

    def check(self, name: str, inject, repair, timeout: float = FIRE_WITHIN, resolve_timeout: float = 30.0,
              prepare=None) -> None:
        """`prepare` (optional) runs before the clock starts: what sets the fault up without being
        it (a program restarted with a setting, a backlog built while the ingester is stopped)."""
        prom, receiver = self.monitored.prometheus, self.monitored.receiver
        if prom.alerts(name, "firing"):
            raise AssertionError(f"{name} fires before its fault")
        if prepare is not None:
            prepare()
        began = time.monotonic()
        inject()
        try:
            prom.wait_alert(name, "firing", timeout + 10)   # waited for longer, to report how late it was
            fired = time.monotonic() - began
            wait_until(lambda: receiver.alerts(name, "firing", since=began), timeout + GROUP_WAIT + 10,
                       f"{name} firing at the webhook", interval=0.2)
            delivered = time.monotonic() - began
        finally:
            ended = time.monotonic()   # a repair may take a while (a program restarted): counted from its start
            repair()
        prom.wait_gone(name, resolve_timeout)
        wait_until(lambda: receiver.alerts(name, "resolved", since=ended), resolve_timeout + 15,
                   f"{name} resolved at the webhook", interval=0.2)
        self.timings[name] = (fired, delivered, time.monotonic() - ended)
        if fired > timeout + 1.0:
            raise AssertionError(f"{name} fired after {fired:.1f} s (allowed {timeout:.0f} s)")
        if delivered > timeout + GROUP_WAIT + 1.5:
            raise AssertionError(f"{name} reached the webhook after {delivered:.1f} s (allowed {timeout + GROUP_WAIT:.0f} s)")

    def report(self) -> str:
        lines = ["alert: fired in Prometheus / at the webhook / resolved at the webhook (s after the fault began / its repair began)"]
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


def _weights(stack: Stack):
    import redis as redis_lib

    from common.weightcache import WeightStore
    from harness import redis_acl
    from harness.stack import SERVICE_PASSWORD

    client = redis_lib.Redis(port=stack.settings.redis_port, username=redis_acl.SERVICE_USER, password=SERVICE_PASSWORD)
    return WeightStore(client, prefix=stack.settings.prefix)


def _publish_corrupt(stack: Stack, weights, good: str) -> None:
    """A copy of version `good` with a chunk that fails its checksum, made current."""
    _, arrays = weights.fetch(good)
    bad = weights.publish(arrays, make_current=False)
    chunk = next(stack.admin().scan_iter(match=f"{stack.settings.prefix}:v:{bad}:a:item_vectors:*"))
    stack.admin().setrange(chunk, 10, b"\xff\xff\xff\xff")
    weights.set_current(bad)


def corrupt_version(faults: Faults) -> None:
    """A bad canary: a copy of the current version with a chunk that fails its checksum, made
    current; every replica refuses it and keeps its model; the pointer goes back after."""
    stack = faults.monitored.stack
    weights = _weights(stack)
    good = weights.current_version()
    faults.check("ModelVersionRefused", lambda: _publish_corrupt(stack, weights, good), lambda: weights.set_current(good),
                 resolve_timeout=40)
    stack.wait_ready(good, timeout=10)


def _replica_restarted_on_a_corrupt_version(faults: Faults, name: str) -> None:
    """A replica restarted while the current version is one it refuses: it has no model to keep,
    serves none and answers /recommend with 503 (nginx retries on the other replica, the
    restarted one counts its 503s). Counted from the restarted replica's port answering; the
    pointer goes back to the good version after."""
    stack = faults.monitored.stack
    weights = _weights(stack)
    good = weights.current_version()
    first = stack.replicas[0]

    def prepare():
        _publish_corrupt(stack, weights, good)
        first.kill()
        first.start()   # until its port answers: counted from there

    # The error share's window (10 s here) must first fill with 503s: a longer allowance.
    timeout = FIRE_WITHIN + (8 if name == "RecommendErrorShareHigh" else 0)
    faults.check(name, lambda: None, lambda: weights.set_current(good), timeout=timeout, resolve_timeout=40,
                 prepare=prepare)
    stack.wait_ready(good, timeout=20)


def replica_without_model(faults: Faults) -> None:
    _replica_restarted_on_a_corrupt_version(faults, "InferenceReplicaWithoutModel")


def error_share(faults: Faults) -> None:
    _replica_restarted_on_a_corrupt_version(faults, "RecommendErrorShareHigh")


# -- the trainer: stopped, a training that fails, no model within TRAINER_MODEL_MAX_AGE ------------
def _restart(process, grace: float = 15, **env: str) -> dict[str, str | None]:
    """Stop `process` (SIGKILL after `grace` s), start it again with `env` changed (None: unset);
    the previous values."""
    previous = {k: process.env.get(k) for k in env}
    process.stop(grace=grace)
    for key, value in env.items():
        if value is None:
            process.env.pop(key, None)
        else:
            process.env[key] = value
    process.start()
    return previous


def _trainer_settled(faults: Faults, timeout: float = 240) -> None:
    """The trainer up with a successful training behind it, and none of its alerts firing (a
    trainer that has just started exports 0 for the last success and its time until its first
    training ends)."""
    prom, port = faults.monitored.prometheus, faults.monitored.stack.settings.trainer_metrics_port
    # Its own /metrics (Prometheus may still hold the last value of a process just restarted).
    wait_until(lambda: _metric_sum(port, "trainer_last_training_success ") == 1, timeout,
               "the trainer's training succeeded", interval=0.5)
    time.sleep(2 * SCRAPE)
    for name in ("TrainerDown", "TrainingFailed", "ModelStale"):
        prom.wait_gone(name, 30)


def trainer_down(faults: Faults) -> None:
    trainer = faults.monitored.stack.processes["trainer"]
    faults.check("TrainerDown", trainer.kill, trainer.start)
    _trainer_settled(faults)


def _wait_port(port: int, timeout: float = 60) -> None:
    from harness.waiting import http_get

    wait_until(lambda: http_get(f"http://127.0.0.1:{port}/metrics", timeout=1)[0] == 200, timeout,
               f"/metrics on :{port}", interval=0.2)


def training_failed(faults: Faults) -> None:
    """An event file the trainer cannot read at its next retraining: the trainer restarted with
    RETRAIN_INTERVAL=3 and TRAIN_MAX_MALFORMED=0 (the ingester quarantines malformed lines, so the
    event files hold none), then a file of malformed lines in the event directory; removed after,
    and the trainer back to its settings."""
    m = faults.monitored
    trainer = m.stack.processes["trainer"]
    bad = m.stack.settings.data_dir / "events" / "alert-demo-malformed.log"
    previous = _restart(trainer, RETRAIN_INTERVAL="3", TRAIN_MAX_MALFORMED="0")
    try:
        _trainer_settled(faults)
        # The file may arrive while a retraining runs: it fails at the one after (interval 3 s).
        duration = m.prometheus.query('trainer_last_training_duration_seconds{job="trainer"}')
        allowance = FIRE_WITHIN + 3 + (float(duration[0]["value"][1]) if duration else 0)
        faults.check("TrainingFailed", lambda: bad.write_text("".join(f"alert-demo: not an event line {n}\n" for n in range(200))),
                     lambda: bad.unlink(missing_ok=True), timeout=allowance, resolve_timeout=240)
    finally:
        bad.unlink(missing_ok=True)
        _restart(trainer, **previous)
    _trainer_settled(faults)


def model_stale(faults: Faults) -> None:
    """The trainer restarted with TRAINER_MODEL_MAX_AGE=1: its last training and the newest publish
    are older than it allows. Counted from its /metrics answering with that setting; back to its
    own setting after."""
    trainer = faults.monitored.stack.processes["trainer"]
    port = faults.monitored.stack.settings.trainer_metrics_port
    previous: dict[str, str | None] = {}

    def prepare():
        previous.update(_restart(trainer, TRAINER_MODEL_MAX_AGE="1"))
        _wait_port(port)

    faults.check("ModelStale", lambda: None, lambda: _restart(trainer, **previous), resolve_timeout=240, prepare=prepare)
    _trainer_settled(faults)


# -- the stream: the ingester behind, not writing, stopped for longer than the lag threshold --------
LAG_STOPPED = 40.0      # seconds the ingester stays stopped for IngestLagHigh (threshold 30 s)
BACKLOG_LINES = 120_000  # IngestBacklogHigh: over 100,000


def _produce(stack: Stack, count: int, text: str) -> None:
    """`count` lines into the event topic (malformed on purpose: the ingester quarantines them,
    the trainer never sees them)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": stack.settings.bootstrap, "linger.ms": 20,
                         "queue.buffering.max.messages": 200_000})
    for n in range(count):
        while True:
            try:
                producer.produce(stack.settings.topic, f"{text} {n}".encode())
                break
            except BufferError:
                producer.poll(0.1)
    left = producer.flush(60)
    if left:
        raise RuntimeError(f"{left} of {count} lines not delivered to the broker")


def _metric_sum(port: int, prefix: str) -> float:
    """The sum of every sample whose line starts with `prefix`, from a program's own /metrics."""
    from harness.waiting import http_get

    status, body, _ = http_get(f"http://127.0.0.1:{port}/metrics", timeout=2)
    if status != 200:
        return float("nan")
    return sum(float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line.startswith(prefix))


def ingest_lag(faults: Faults) -> None:
    """The ingester stopped for 40 s while the simulator keeps producing, then started: the lines
    it writes first are over 30 s old. Counted from the first such line written (the ingester's
    own /metrics: ingest_lag_seconds observations above 30 s); the lag resolves on its own once
    the window holds only fresh lines."""
    stack = faults.monitored.stack
    ingest, port = stack.processes["ingest"], stack.settings.ingest_metrics_port
    onset = {}

    def over_30() -> float:
        return _metric_sum(port, "ingest_lag_seconds_count") - _metric_sum(port, 'ingest_lag_seconds_bucket{le="30.0"}')

    def prepare():
        ingest.stop()
        time.sleep(LAG_STOPPED)
        faults.monitored.prometheus.wait_gone("IngestLagHigh", 10)
        started = time.monotonic()
        ingest.start()
        wait_until(lambda: over_30() > 0, 60, "the ingester writing lines over 30 s old", interval=0.1)
        onset["seconds"] = time.monotonic() - started

    faults.check("IngestLagHigh", lambda: None, lambda: None, prepare=prepare, resolve_timeout=40)
    print(f"  IngestLagHigh: the ingester wrote its first line over 30 s old {onset['seconds']:.1f} s after its start", flush=True)
    faults.monitored.prometheus.wait_gone("IngestConsumerDown", 30)


def ingest_backlog(faults: Faults) -> None:
    """120,000 lines produced while the ingester is stopped, then the ingester started with
    INGEST_BATCH_SECONDS=3600 and INGEST_BATCH_LINES=10000000: it consumes them but writes
    nothing, so they stay behind. Counted from its own /metrics reporting them (its first
    look at the topic, right after its start); restarted with its settings after (its stop
    writes the batch)."""
    stack = faults.monitored.stack
    ingest, port = stack.processes["ingest"], stack.settings.ingest_metrics_port
    previous = {"INGEST_BATCH_SECONDS": ingest.env.get("INGEST_BATCH_SECONDS"),
                "INGEST_BATCH_LINES": ingest.env.get("INGEST_BATCH_LINES")}

    def prepare():
        ingest.stop()
        _produce(stack, BACKLOG_LINES, "alert-demo backlog line")
        ingest.env.update(INGEST_BATCH_SECONDS="3600", INGEST_BATCH_LINES="10000000")
        ingest.start()
        wait_until(lambda: _metric_sum(port, "ingest_partition_lag_messages") > 100_000, 60,
                   "the ingester reporting its backlog", interval=0.1)

    try:
        # Its stop writes the 120,000 lines it holds (in time: else they would come back as a
        # backlog its first look at the topic reports again, for 30 s).
        faults.check("IngestBacklogHigh", lambda: None, lambda: _restart(ingest, grace=60, **previous), prepare=prepare,
                     resolve_timeout=40)
    finally:
        if not ingest.running() or ingest.env.get("INGEST_BATCH_LINES") == "10000000":
            _restart(ingest, grace=60, **previous)
    faults.monitored.prometheus.wait_gone("IngestConsumerDown", 30)


def ingest_stalled(faults: Faults) -> None:
    """The broker hangs (SIGSTOP) while the topic holds lines the ingester has not written: the
    ingester runs and answers /metrics but consumes nothing, and its count of lines behind keeps
    its last value (it cannot ask the broker); SIGCONT after. Waits first until that count is above
    0 (it is refreshed every 30 s). The consumed rate's window (10 s here) must first empty: a
    longer allowance."""
    import signal

    m = faults.monitored
    broker = m.stack.processes["broker"]
    wait_until(lambda: m.prometheus.query('sum(ingest_partition_lag_messages{job="ingest"}) > 0'), 40,
               "the ingester reporting lines behind", interval=0.5)
    try:
        faults.check("IngestConsumerStalled", lambda: broker.signal_group(signal.SIGSTOP),
                     lambda: broker.signal_group(signal.SIGCONT), timeout=FIRE_WITHIN + 10, resolve_timeout=60)
    finally:
        broker.signal_group(signal.SIGCONT)


def hit_rate_drop(faults: Faults) -> None:
    """The world changes under the current version: the simulator restarted (its clock continued
    from the newest event) with another world, SIM_SEED=7 (other users' tastes, as `trainer
    generate-data` would make them), and SIM_RATE=25 (at least 200 settled answers in an hour of
    simulated time: 15 s here); back to its own world after. The evaluator's windows are in
    simulated time: an answer settles ONLINE_WINDOW (1800 s, 7.5 s here) after it, and the hour
    must hold enough bad ones, so the allowance adds the window and the hour (22.5 s)."""
    import datetime as dt

    m = faults.monitored
    previous = {k: m.sim_env.get(k) for k in ("SIM_SEED", "SIM_RATE")}

    def restart_simulator(**changes: str | None) -> None:
        newest = m.prometheus.query('max(max_over_time(ingest_last_event_timestamp_seconds{job="ingest"}[5m])) > 0')
        at = float(newest[0]["value"][1]) + 600   # ahead of the newest line: the clock never goes back
        m.stop_simulator()
        for key in [k for k, v in changes.items() if v is None]:
            m.sim_env.pop(key, None)
        m.start_simulator(SIM_START=dt.datetime.fromtimestamp(at, dt.timezone.utc).replace(tzinfo=None).isoformat(),
                          **{k: v for k, v in changes.items() if v is not None})

    # The version serving now has a trailing day that is more than the hour to come (a young
    # version's day is mostly that hour: no drop from it to see).
    wait_until(lambda: m.prometheus.query('online_settled_answers{job="evaluator",window="day"} >= 600 and on(version) '
                                          'increase(online_answers_total{job="evaluator"}[10s]) > 0'), 240,
               "600 settled answers of the current version", interval=0.5)
    try:
        faults.check("OnlineHitRateDrop", lambda: restart_simulator(SIM_SEED="7", SIM_RATE="25"),
                     lambda: restart_simulator(**previous), timeout=FIRE_WITHIN + (1800 + 3600) / SIM_SPEED,
                     resolve_timeout=90)
    finally:
        if m.sim_env.get("SIM_SEED") == "7":
            restart_simulator(**previous)


# -- the event directory's disk ------------------------------------------------------------------
def event_disk_full(faults: Faults) -> None:
    """The event directory's file system (a tmpfs of its own, MonitoredStack(event_disk_mb=...))
    filled to 95% by a file, removed after."""
    import os

    disk = faults.monitored.event_disk
    if disk is None:
        raise RuntimeError("not run: the event directory has no file system of its own "
                           "(MonitoredStack(event_disk_mb=...), as root: alert_faults mounts a tmpfs)")
    filler = disk / "alert-demo-filler.bin"

    def fill():
        st = os.statvfs(disk)
        with open(filler, "wb") as handle:
            os.posix_fallocate(handle.fileno(), 0, st.f_bavail * st.f_frsize - int(0.05 * st.f_blocks * st.f_frsize))

    try:
        faults.check("EventDiskNearlyFull", fill, lambda: filler.unlink(missing_ok=True))
    finally:
        filler.unlink(missing_ok=True)


FAULTS = {"InferenceReplicaDown": replica_down, "InferenceNoReplicaAvailable": no_replica, "RedisDown": redis_down,
          "IngestConsumerDown": ingest_down, "RecommendLatencyP99High": slow_replicas,
          "ModelVersionRefused": corrupt_version, "InferenceReplicaWithoutModel": replica_without_model,
          "RecommendErrorShareHigh": error_share, "EventDiskNearlyFull": event_disk_full, "TrainerDown": trainer_down,
          "TrainingFailed": training_failed, "ModelStale": model_stale, "IngestLagHigh": ingest_lag,
          "IngestBacklogHigh": ingest_backlog, "IngestConsumerStalled": ingest_stalled,
          "OnlineHitRateDrop": hit_rate_drop}
