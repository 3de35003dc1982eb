"""The course's world in a box: the simulator (compose profile `sim`) plays its users against the
stack through nginx for SIM_DURATION seconds and produces their event lines to kafka; the
ingester writes them into the trainer's event files. Checked: its user API answers inside the
network, every session got a 200 (the simulator's truth report: failed == 0), every line was
delivered, and the trainer's DATA_DIR/events holds exactly the valid lines it sent, the quarantine
exactly the ones it corrupted on purpose; the ingester's /metrics, read over the compose network,
count what it wrote."""

from __future__ import annotations

import json
import time

from harness.waiting import wait_until

from compose.checks import check
from compose.engine import Engine
from compose.probes import fetch_json, probe_events
from compose.report import titled
from compose.stack import Stack
from compose.steps import check_env, container_env, override_env

PROFILE = "sim"
METRICS_URL = "http://ingest:{port}/metrics"   # from the trainer's container, over the compose network
MIN_VALID_LINES = 300
CATCH_UP = 60.0          # seconds for the ingester to write the last lines after the simulator ended


def ended(engine: Engine, container: str) -> tuple[str, int] | None:
    """(status, exit code) once `container` has stopped."""
    status, code = (engine.inspect(container, "{{.State.Status}} {{.State.ExitCode}}").split() + ["", ""])[:2]
    return (status, int(code or 0)) if status in ("exited", "stopped", "dead") else None


def read_truth(stack: Stack, container: str, path: str) -> dict:
    """The simulator's truth report (SIM_TRUTH_JSON on its volume), copied out of the stopped container."""
    copy = stack.settings.log_dir / "simulator-truth.json"
    copy.unlink(missing_ok=True)
    stack.engine.docker("cp", f"{container}:{path}", str(copy))
    return json.loads(copy.read_text())


def totals(truth: dict) -> dict[str, int]:
    """Sessions, late and failed answers over every model version that answered."""
    return {key: sum(v[key] for v in truth["versions"].values()) for key in ("sessions", "answered", "late", "failed")}


def caught_up(engine: Engine, trainer: str, topic: str, metrics_url: str, wanted: tuple[int, int],
              timeout: float) -> dict:
    """The event files once they hold `wanted` (valid, quarantined) lines, or, after `timeout`
    seconds, once they stopped changing (then the caller's checks say what is missing)."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        found = probe_events(engine, trainer, topic, metrics_url)
        counts = (found["valid"], found["quarantined"])
        if counts == wanted or (time.monotonic() > deadline and last is not None and counts == last):
            return found
        last = counts
        time.sleep(1.0)


@titled("simulator -> kafka -> ingest")
def simulated_world(stack: Stack) -> str:
    e, s = stack.engine, stack.settings
    trainer, ingest = e.container("trainer"), e.container("ingest")
    e.container("kafka")
    ingest_env = container_env(e, ingest)
    topic = ingest_env.get("KAFKA_TOPIC") or "movielog1"
    metrics_url = METRICS_URL.format(port=ingest_env.get("INGEST_METRICS_PORT") or "9101")
    before = probe_events(e, trainer, topic, metrics_url)

    log_to = s.log_dir / "simulator.log"
    t0 = time.monotonic()
    e.compose("--profile", PROFILE, "up", "-d", "simulator", timeout=300, log_to=log_to)
    found = e.containers("simulator", running_only=False)
    check(len(found) == 1, f"{len(found)} simulator containers after `--profile {PROFILE} up -d simulator`, expected 1")
    simulator = found[0]
    check_env(e, "simulator", override_env(s).get("simulator", {}))
    env = container_env(e, simulator)
    duration, rate = float(env.get("SIM_DURATION") or 0), float(env.get("SIM_RATE") or 0)
    check(duration > 0, f"the simulator's SIM_DURATION is {duration:g}: it would run until stopped")
    api = f"http://simulator:{env.get('SIM_API_PORT') or '8095'}"
    record = wait_until(lambda: fetch_json(e, trainer, f"{api}/user/1"), 60,
                        f"the simulator's user API {api} answering inside the network", interval=1.0)
    check("age" in record, f"{api}/user/1 answered {record}")
    # Building its world (the trainer's preset) takes seconds, the producer's flush up to 30 s.
    status, code = wait_until(lambda: ended(e, simulator), duration + 150, "the simulator ending its run", interval=1.0)
    ran = time.monotonic() - t0
    output = e.logs(simulator)
    with log_to.open("a") as out:
        out.write("\n--- simulator log\n" + output)
    check(code == 0, f"the simulator ended {status} with exit code {code}; last lines:\n"
          + "\n".join(output.strip().splitlines()[-15:]))

    truth = read_truth(stack, simulator, env.get("SIM_TRUTH_JSON") or "/var/lib/simulator/truth.json")
    answers = totals(truth)
    sent, corrupted = sum(truth["events"].values()), truth["corrupted_total"]
    check(answers["sessions"] >= rate * duration / 2,
          f"only {answers['sessions']} sessions in {duration:g} s at SIM_RATE {rate:g}: {truth['versions']}")
    check(answers["failed"] == 0, f"{answers['failed']} of {answers['sessions']} sessions got no 200: {truth['versions']}")
    check(truth.get("undelivered") == 0, f"the simulator could not deliver {truth.get('undelivered')} lines to kafka")

    wanted = (before["valid"] + sent - corrupted, before["quarantined"] + corrupted)
    after = caught_up(e, trainer, topic, metrics_url, wanted, CATCH_UP)
    valid, quarantined = after["valid"] - before["valid"], after["quarantined"] - before["quarantined"]
    check(valid >= MIN_VALID_LINES, f"only {valid} valid lines in {after['events_dir']}/{topic}-*.log, "
          f"expected at least {MIN_VALID_LINES} (the simulator sent {sent - corrupted})")
    check((valid, quarantined) == (sent - corrupted, corrupted),
          f"the trainer's files hold {valid} valid and {quarantined} quarantined lines; the simulator sent "
          f"{sent - corrupted} valid and {corrupted} corrupted ({truth['corrupted']})")
    written = after["metrics"].get("ingest_written_total", 0)
    check(written > 0, f"{metrics_url} (from the trainer's container): ingest_written_total {written}, "
          f"metrics {after['metrics'] or 'unreachable'}")

    e.compose("--profile", PROFILE, "down", "simulator", timeout=120, log_to=log_to)
    left = e.containers("simulator", running_only=False)
    check(not left, f"`--profile {PROFILE} down simulator` left {left}")
    versions = ", ".join(f"{name} {v['sessions']}" for name, v in truth["versions"].items())
    events = ", ".join(f"{kind} {n}" for kind, n in sorted(truth["events"].items()))
    malformed = after["metrics"].get("ingest_malformed_total", 0)
    return (f"user API {api}/user/1 answered inside the network; simulator ran {ran:.0f} s (SIM_DURATION "
            f"{duration:g}, SIM_RATE {rate:g}, SIM_SPEED {env.get('SIM_SPEED')}): {answers['sessions']} sessions ({versions}), {answers['late']} late, 0 failed; sent {sent} lines ({events}), "
            f"{corrupted} corrupted on purpose, 0 undelivered; in {after['events_dir']}: {valid} valid lines in "
            f"{after['files']} {topic} files, {quarantined} in quarantine ({after['quarantine_files']} files); "
            f"ingester's /metrics over the network: ingest_written_total {written:.0f}, ingest_malformed_total "
            f"{malformed:.0f}; simulator down")
