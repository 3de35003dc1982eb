"""The steps through nginx: plain traffic, then a scale-up, a stopped replica, a killed replica
and a new model version, each under a request loop (harness.loop) that must see at least its
minimum number of requests and not one failed. The minimums are about a fifth of what a run here
sees (2 shared cores): a loop that stalls fails, one slowed by a busy machine does not."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

from harness.waiting import wait_until

from compose.checks import check
from compose.engine import Engine
from compose.probes import nginx_processes, probe_replicas, version_number
from compose.report import latency, titled
from compose.stack import Stack, started

# In the trainer container; its clock (the host's kernel clock, like the probes') brackets the publish.
PUBLISH = 'date +"t0 %s.%N"; trainer publish --model-dir "$MODEL_DIR" --force; rc=$?; date +"t1 %s.%N"; exit $rc'


@titled("60 requests through nginx")
def traffic(stack: Stack) -> str:
    """60 requests, one after the other (known users, user 0, unknown and huge ids), all valid,
    answered by at least 3 replicas, each named in X-Served-By."""
    users = list(range(1, 55)) + [0, 299, 300, 5000, 999999, 123456789012]
    outcomes = [stack.recommend(user) for user in users]
    bad = [o for o in outcomes if not o.ok]
    check(len(outcomes) == 60 and not bad, f"{len(bad)} of 60 requests failed: {[(o.user, o.problem) for o in bad[:5]]}")
    served = {o.served_by for o in outcomes}
    counts = {name: sum(o.served_by == name for o in outcomes) for name in sorted(served)}
    check(len(served) >= 3, f"only {len(served)} distinct X-Served-By: {counts}")
    unknown = served - set(stack.hostnames.values())
    check(not unknown, f"X-Served-By names no replica container: {unknown}")
    return f"60/60 valid; X-Served-By {counts}; {latency(outcomes, stack.settings.slow)}"


def nginx_state(engine: Engine, nginx: str) -> tuple[str, str, list[int]]:
    return nginx, engine.inspect(nginx, "{{.State.StartedAt}}"), nginx_processes(engine, nginx)


@titled("scale to 4 (no nginx reload)")
def scale_up(stack: Stack) -> str:
    """A 4th replica answers through nginx within 10 s of its start; nginx neither restarted nor
    reloaded (same container, start time and processes)."""
    e = stack.engine
    nginx = e.container("nginx")
    before = nginx_state(e, nginx)
    old = set(stack.replicas())
    # Paced (about 100 requests/s per client): the suite's own load should not be what slows the
    # new replica's start on 2 shared cores.
    with stack.loop(pause=0.01) as loop:
        loop.wait_for(20, timeout=10)
        time.sleep(0.5)
        t0 = time.monotonic()
        e.compose("up", "-d", "--no-recreate", "--scale", "inference=4", timeout=300, log_to=stack.settings.log_dir / "scale.log")
        t_up = time.monotonic()   # the new container runs: from here on it is nginx's business
        new = [c for c in stack.replicas() if c not in old]
        check(len(new) == 1, f"expected one new inference container, found {len(new)}")
        name = stack.hostnames[new[0]]
        first = wait_until(lambda: next((o for o in list(loop.outcomes) if o.ok and o.served_by == name), None),
                           max(0.1, t_up + 10 - time.monotonic()), f"the new replica {name} answering through nginx")
        time.sleep(1)
    after = nginx_state(e, nginx)
    check(e.containers("nginx") == [nginx] and after == before, f"nginx was restarted or reloaded: before {before}, after {after}")
    loop.check(min_requests=250)
    by_new = sum(o.served_by == name for o in loop.outcomes)
    return (f"new replica {name}: first answer through nginx {first.at - t_up:.2f} s after its container started "
            f"({first.at - t0:.2f} s after the scale command, which took {t_up - t0:.2f} s), {by_new} answered by it; "
            f"nginx processes unchanged {after[2]}; loop: {latency(loop.outcomes, stack.settings.slow)}, 0 failed")


@titled("stop a replica under load")
def stop_one(stack: Stack) -> str:
    """`stop` a replica under a request loop: no request fails, none is answered by it after."""
    e = stack.engine
    replicas = stack.replicas()
    victim = replicas[0]
    name = stack.hostnames[victim]
    with stack.loop(clients=3) as loop:
        time.sleep(1.5)
        t0 = time.monotonic()
        e.docker("stop", victim, timeout=60)
        t_stopped = time.monotonic()
        time.sleep(3)
    loop.check(min_requests=1000)
    afterwards = [o for o in loop.outcomes if started(o) > t_stopped]
    check(len(afterwards) >= 500, f"only {len(afterwards)} requests after the stop; expected at least 500")
    late = [o for o in afterwards if started(o) > t_stopped + 0.1 and o.served_by == name]
    check(not late, f"{len(late)} requests were answered by the stopped replica {name}")
    check(len(e.containers("inference")) == len(replicas) - 1, "the stopped replica is still running")
    return (f"stopped {name} (stop took {t_stopped - t0:.1f} s) during {latency(loop.outcomes, stack.settings.slow)}, "
            f"{len(afterwards)} after the stop, 0 failed")


def restarted(engine: Engine, container: str, old_pid: int) -> tuple[int, int] | None:
    """(pid, restart count) once `container` runs again with a main process other than `old_pid`."""
    state = engine.inspect(container, "{{.State.Status}} {{.State.Pid}} {{.RestartCount}}")
    status, pid, count = (state.split() + ["", "", ""])[:3]
    if status == "running" and pid.isdigit() and int(pid) not in (0, old_pid):
        return int(pid), int(count or 0)
    return None


@titled("kill -9 a replica under load")
def kill_one(stack: Stack) -> str:
    """SIGKILL to a replica's main process (gunicorn's master, the container's PID 1) from the
    host (inside its own PID namespace the kernel ignores SIGKILL to PID 1) under a request loop:
    no request fails, the restart policy starts it again, and it answers through nginx again."""
    e = stack.engine
    replicas = stack.replicas()
    check(len(replicas) == 3, f"{len(replicas)} replicas running before the kill, expected 3")
    victim = replicas[-1]
    name = stack.hostnames[victim]
    pid = int(e.inspect(victim, "{{.State.Pid}}"))
    restarts = int(e.inspect(victim, "{{.RestartCount}}") or 0)
    check(pid > 1 and Path(f"/proc/{pid}").exists(),
          f"the host does not see {name}'s process {pid} (an engine in a VM?): cannot kill it from here")
    with stack.loop(clients=3) as loop:
        time.sleep(1.5)
        t_kill = time.monotonic()
        os.kill(pid, signal.SIGKILL)
        new_pid, restarts_after = wait_until(lambda: restarted(e, victim, pid), 60,
                                             f"{name} running again with a new main process after the kill", interval=0.1)
        t_restarted = time.monotonic()
        first = wait_until(lambda: next((o for o in list(loop.outcomes)
                                         if o.ok and o.served_by == name and started(o) > t_restarted), None),
                           60, f"{name} (restarted, pid {new_pid}) answering through nginx")
        time.sleep(1)
    check(restarts_after > restarts, f"{name}'s restart count did not grow: {restarts} -> {restarts_after}")
    loop.check(min_requests=1000)
    during = [o for o in loop.outcomes if t_kill <= started(o) < started(first)]
    check(len(during) >= 300, f"only {len(during)} requests between the kill and {name}'s first answer; expected at least 300")
    served = {n: sum(o.served_by == n for o in during) for n in sorted({o.served_by for o in during})}
    after = sum(o.served_by == name for o in loop.outcomes if started(o) >= started(first))
    return (f"killed {name} (host pid {pid}, SIGKILL): restarted by the restart policy after {t_restarted - t_kill:.1f} s "
            f"(pid {new_pid}, restart count {restarts} -> {restarts_after}), answering through nginx again "
            f"{first.at - t_kill:.1f} s after the kill; {len(during)} requests meanwhile, served by {served}; "
            f"{after} answered by {name} afterwards; loop: {latency(loop.outcomes, stack.settings.slow)}, 0 failed")


@titled("publish a new version")
def publish(stack: Stack) -> str:
    """`trainer publish --force` under a request loop: every worker of every replica serves the new
    version within 5 s of the publish's start, no request fails, and then nginx returns only it."""
    e = stack.engine
    replicas = stack.replicas()
    trainer = e.container("trainer")
    current = stack.ready_version()
    check(current is not None, "/readyz through nginx: not 200")
    old = version_number(current)
    to_wall = time.time() - time.monotonic()   # the loop's times (monotonic) on the containers' clock
    results: dict[str, dict] = {}
    with stack.loop(pause=0.005) as loop:
        # Probes run first and watch their own replica every 50 ms; each reports when all of its
        # workers serve one version other than the old one.
        watcher = threading.Thread(target=lambda: results.update(probe_replicas(e, replicas, "changed", str(old), time.time() + 40)))
        watcher.start()
        time.sleep(2.0)   # let the probes' `exec` start (a late probe only overstates the lag)
        out = e.exec(trainer, "sh", "-c", PUBLISH)
        watcher.join()
        time.sleep(0.5)
    stamps = dict(line.split() for line in out.splitlines() if line.startswith(("t0 ", "t1 ")))
    t0, t1 = float(stamps["t0"]), float(stamps["t1"])
    match = re.search(r"published (v\d+-\w+)", out)
    check(match is not None, f"`trainer publish` said: {out.strip()}")
    new_version = match.group(1)
    check(version_number(new_version) > old, f"published {new_version}, not newer than v{old}")
    lags = {}
    for container, result in results.items():
        name = stack.hostnames[container]
        check(result.get("done"), f"replica {name} did not swap to a new version: {result}")
        check(set(result["workers"].values()) == {version_number(new_version)},
              f"replica {name} workers serve {result['workers']}, expected {new_version}")
        lags[name] = result["at"] - t0
    check(len(lags) == len(replicas), f"probed {len(lags)} of {len(replicas)} replicas")
    # Upper bound: counted from the start of `trainer publish` (it loads and uploads the model
    # first), not from the moment the pointer moved, which is later.
    worst = max(lags.values())
    check(worst <= 5.0, f"slowest replica served {new_version} {worst:.2f} s after the publish began: {lags}")
    loop.check(min_requests=300)
    tail = [stack.recommend(user) for user in range(1, 41)]
    stale = [(o.version, o.problem) for o in tail if o.version != new_version or not o.ok]
    check(not stale, f"after the swap nginx still returned {stale[:5]}")
    last_old = max((started(o) + to_wall for o in loop.outcomes if o.version and o.version != new_version), default=t0)
    return (f"`trainer publish` ran {t1 - t0:.2f} s and made {new_version} current; every worker of {len(lags)} replicas "
            f"served it within {', '.join(f'{n} {lag:.2f} s' for n, lag in sorted(lags.items()))} of the publish's start "
            f"({worst - (t1 - t0):+.2f} s from its end); last old answer through nginx {last_old - t1:+.2f} s from its end; "
            f"loop: {latency(loop.outcomes, stack.settings.slow)}, 0 failed; then 40/40 on {new_version}")
