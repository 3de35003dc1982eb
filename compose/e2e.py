"""Container end-to-end suite (`make test-compose`): compose/compose.yaml, with the suite's
compose/e2e.override.yaml, built, scaled and exercised through nginx, with `docker compose` where a
Docker engine answers, else podman-compose (after ../shared/container-rig/setup-container-rig).

    .venv/bin/python -m compose.e2e        (from the checkout; imports the installed harness)

Steps, each asserted and timed: create the Redis secrets (compose/secrets/, as `make
compose-secrets`) when missing; remove what an interrupted run left; build; check the images; up
with --scale inference=3 (kafka and the ingester too, not the simulator of the profile `sim`; the
override's and the env file's values in the containers); wait until
every worker of every replica serves a model; Redis locked down (no published port, no password in
any container's inspect output, the services' user refused FLUSHALL/CONFIG/KEYS/... and keys
outside its prefix inside the compose network, no login no access); 60 requests through nginx, all
valid, from >= 3 replicas; scale to 4 (the new replica answers through nginx within 10 s of its
start, nginx neither reloaded nor restarted); stop a replica during a request loop; kill -9 a
replica's main process from the host during a request loop (the restart policy starts it again,
it answers through nginx again); publish a new version (every worker of every replica serves it
within 5 s); the simulator (profile `sim`) for 30 s: every session answered with a 200, its valid
event lines in the trainer's event files by way of kafka and the ingester, its corrupted ones in the
quarantine, the ingester's metrics counting them; down -v (no container, network or volume left).
Every request loop must reach its minimum number of requests with none failed.

Settings: E2E_PORT, E2E_PROJECT, E2E_PRESET, E2E_ENGINE, E2E_KEEP, CONTAINER_RIG (compose/settings.py).
Logs (build and compose output, container logs of a failed run) go to .run/compose-e2e/.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Callable, Mapping

if __name__ == "__main__" and not __package__:
    sys.exit("compose/e2e.py is part of the package `compose`: run `.venv/bin/python -m compose.e2e` from the checkout")

from compose import lockdown, serving, steps, world  # noqa: E402
from compose.checks import SuiteFailure, check  # noqa: E402
from compose.report import Report, container_logs, log  # noqa: E402
from compose.settings import Settings  # noqa: E402
from compose.stack import Stack  # noqa: E402

# In order, after steps.prepare (which makes the Stack they all take).
STEPS: tuple[Callable[[Stack], str], ...] = (
    steps.clean_leftovers, steps.build, steps.check_images, steps.up, steps.wait_ready, lockdown.redis_locked_down,
    serving.traffic, serving.scale_up, serving.stop_one, serving.kill_one, serving.publish, world.simulated_world,
    steps.down)


def timed(report: Report, function: Callable, *args):
    name = function.title
    log(f"-- {name}")
    t0 = time.monotonic()
    try:
        result = function(*args)
    except BaseException:
        report.add(name, time.monotonic() - t0, "FAILED")
        raise
    seconds = time.monotonic() - t0
    summary = result if isinstance(result, str) else ""
    report.add(name, seconds, summary)
    log(f"   ok: {name} ({seconds:.1f} s){': ' + summary if summary else ''}")
    return result


def after_failure(settings: Settings, stack: Stack | None) -> None:
    if stack is None:
        return
    container_logs(stack.engine)
    if settings.keep:
        log("E2E_KEEP=1: the stack stays up. Look with `" + " ".join(stack.engine.compose_command("ps"))
            + "`; remove it with the same command and `down --remove-orphans -v`")
        return
    log("cleaning up")
    stack.engine.clean()


def interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt   # SIGTERM (a CI timeout, `kill`): the same clean-up as Ctrl-C


def main(environ: Mapping[str, str] = os.environ) -> int:
    try:
        settings = Settings.from_env(environ)
    except SuiteFailure as error:
        print(f"e2e: {error}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, interrupted)
    report = Report(settings.budget)
    stack: Stack | None = None
    ok = False
    try:
        stack = timed(report, steps.prepare, settings, environ)
        for step in STEPS:
            timed(report, step, stack)
        check(report.elapsed() <= settings.budget, f"suite took {report.elapsed():.0f} s, budget {settings.budget:.0f} s")
        ok = True
    except (AssertionError, TimeoutError, subprocess.TimeoutExpired) as error:
        print(f"\nFAILED: {error}", flush=True)
    except KeyboardInterrupt:
        print("\ninterrupted", flush=True)
    finally:
        if not ok:
            after_failure(settings, stack)
        report.print(ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
