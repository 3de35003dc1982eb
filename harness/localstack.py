"""The whole service on this machine without Docker, supervised by supervisord.

    python -m harness.localstack up | down | status | logs      (make up / down / status / logs)

The programs are those of the stack description (harness/stackdef.py). Everything at run time lives
in the run directory (.run/, git-ignored; STACK_RUN_DIR): supervisord.conf, supervisor.sock,
logs/*.log (one file per program, plus supervisord's and nginx's own), redis/, nginx/, models/,
stack.env (how tools such as `.venv/bin/trainer` reach this stack without settings),
redis.password and redis-admin.password (random on the first `up`, mode 0600, reused;
REDIS_PASSWORD / REDIS_ADMIN_PASSWORD override). Operators log in to Redis as `admin`
(`REDISCLI_AUTH=$(cat .run/redis-admin.password) redis-cli -p 6390 --user admin`).

`up` is idempotent: while the stack runs it rewrites the configuration and applies only what
changed (`supervisorctl update` adds or removes replicas, nginx is reloaded with the new upstream
list), then waits for readiness again. Settings: see harness/stackdef.py; LINES (logs, 50).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from harness.nginx import NginxConfigError
from harness.paths import VENV_BIN, shown
from harness.ports import port_in_use
from harness.stackdef import StackError, StackSettings, int_setting, programs
from harness.stackfiles import write_all
from harness.supervisor import Supervisor, describe, terminate
from harness.waiting import http_get, ready_version


def say(message: str = "") -> None:
    print(message, flush=True)


def tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            data = b""
            while size > 0 and data.count(b"\n") <= lines:
                step = min(8192, size)
                size -= step
                f.seek(size)
                data = f.read(step) + data
    except OSError:
        return []
    return data.decode(errors="replace").splitlines()[-lines:]


def print_tails(s: StackSettings, names: list[str], lines: int = 20) -> None:
    for name in names:
        path = s.logs / f"{name}.log"
        if path.exists():
            say(f"==> {shown(path)} (last {lines} lines) <==")
            for line in tail(path, lines):
                say("    " + line)


def _state_file(s: StackSettings) -> Path:
    return s.run_dir / "stack.json"


def settings_of_running_stack() -> StackSettings:
    """The settings the stack was last brought up with (falls back to the environment)."""
    s = StackSettings.from_env()
    try:
        saved = json.loads(_state_file(s).read_text())
    except (OSError, ValueError):
        return s
    known = {k: v for k, v in saved.items() if k in StackSettings.__dataclass_fields__ and k not in ("run_dir", "data_root")}
    return s.with_(**known)


def _save(s: StackSettings) -> None:
    fields = {k: v for k, v in s.__dict__.items() if k not in ("run_dir", "data_root", "passthrough")}
    _state_file(s).write_text(json.dumps(fields, indent=1) + "\n")


def _check_ports_free(s: StackSettings) -> None:
    busy = [f"{p.name} {p.port}" for p in programs(s)
            if p.port and port_in_use(p.port, "0.0.0.0" if p.kind == "nginx" else "127.0.0.1")]  # nosec B104  # probe only
    if port_in_use(s.status_port):
        busy.append(f"NGINX_STATUS_PORT {s.status_port}")
    if busy:
        raise StackError(f"ports already in use by another program: {', '.join(busy)} "
                         f"(set PORT / NGINX_STATUS_PORT / REDIS_PORT / INFERENCE_BASE_PORT, or stop it)")


def wait_ready(s: StackSettings, sv: Supervisor) -> bool:
    """Until GET /recommend/1 through nginx answers 200 (progress every 5 s), a program is FATAL,
    or UP_TIMEOUT runs out."""
    url = f"{s.url}/recommend/1"
    started = time.monotonic()
    next_report = started
    trainer_log = s.logs / "trainer.log"
    while True:
        status, body, _ = http_get(url)
        elapsed = time.monotonic() - started
        if status == 200:
            say(f"ready after {elapsed:.0f}s\n  curl -s {url}\n  -> {body.strip()[:300]}")
            return True
        states = sv.states()
        fatal = [n for n, (state, _) in states.items() if state == "FATAL"]
        if fatal:
            say(f"gave up: {', '.join(fatal)} could not be started (FATAL)")
            return False
        if elapsed >= s.up_timeout:
            say(f"not ready after {s.up_timeout}s (GET {url} -> {status or body})")
            return False
        if time.monotonic() >= next_report:
            summary = " ".join(f"{n}={st}" for n, (st, _) in states.items())
            say(f"[{elapsed:4.0f}s] waiting for GET /recommend/1 -> 200 (now {status or body[:60]}); {summary}")
            last = tail(trainer_log, 1)
            if last:
                say(f"        trainer: {last[0].strip()[:140]}")
            next_report = time.monotonic() + 5
        time.sleep(1)


def _apply_changes(sv: Supervisor, changed: dict[str, bool], removed: set[str], s: StackSettings) -> None:
    if changed["nginx"] and removed:
        sv.ctl("signal", "HUP", "nginx")  # stop routing to replicas before they go away
    if changed["redis"]:
        say("redis configuration changed: restarting redis")
        sv.ctl("restart", "redis", check=True)
    if changed["supervisord"]:
        out = sv.ctl("update", check=True).stdout.strip()
        say("supervisorctl update: " + ("; ".join(out.splitlines()) or "nothing to do"))
    if changed["nginx"]:
        sv.ctl("signal", "HUP", "nginx", check=True)
        say(f"nginx reloaded: upstream 127.0.0.1:{{{','.join(map(str, s.replica_ports))}}}")
    if changed.get("monitoring"):   # the replicas' targets need none: Prometheus rereads its target files
        for name in ("prometheus", "alertmanager"):
            sv.ctl("signal", "HUP", name)
        say("prometheus and alertmanager reloaded")


def cmd_up() -> int:
    s = StackSettings.from_env()
    for tool in ("supervisord", "supervisorctl"):
        if not (VENV_BIN / tool).exists():
            raise StackError(f"{VENV_BIN / tool} missing: run `make install`")
    sv = Supervisor(s)
    running = sv.pid() is not None
    before = sv.programs_configured()
    changed = write_all(s, os.environ.get("REDIS_PASSWORD") or None, os.environ.get("REDIS_ADMIN_PASSWORD") or None)
    stack_programs = programs(s)
    changed["supervisord"] = sv.write(stack_programs)
    _save(s)
    if running:
        if any(changed.values()):
            say("stack already running; applying changed configuration: " + ", ".join(k for k, v in changed.items() if v))
            _apply_changes(sv, changed, before - sv.programs_configured(), s)
        else:
            say("stack already running; configuration unchanged")
    else:
        leftovers = sv.processes()
        if leftovers:
            say(f"stopping leftovers of an earlier run: {describe(leftovers)}")
            if terminate(leftovers, sv.processes):
                raise StackError(f"could not stop {describe(sv.processes())}")
        _check_ports_free(s)
        say(f"supervisord started (pid {sv.start()}, config {shown(sv.conf)})")
    say(f"replicas: {s.replicas} on 127.0.0.1:{','.join(map(str, s.replica_ports))}, nginx on :{s.port}, "
        f"redis on 127.0.0.1:{s.redis_port}")
    ready = wait_ready(s, sv)
    say(sv.ctl("status").stdout.rstrip())
    if not ready:
        not_running = [n for n, (state, _) in sv.states().items() if state != "RUNNING"]
        print_tails(s, list(dict.fromkeys(["trainer", *not_running, *(p.name for p in stack_programs if p.kind == "inference"),
                                           "nginx-error"])))
        say("the stack is left running for inspection: `make logs`, `make status`, `make down`")
        return 1
    say(f"logs: {shown(s.logs)}/*.log (make logs); status: make status; stop: make down\n"
        f"tools beside it read {shown(s.run_dir / 'stack.env')}: e.g. `.venv/bin/trainer status`")
    return 0


def cmd_down() -> int:
    sv = Supervisor(StackSettings.from_env())
    pid = sv.pid()
    if pid is None:
        leftovers = sv.processes()
        if not leftovers:
            say("stack not running")
            return 0
        say(f"supervisord is gone but these are left: {describe(leftovers)}; stopping them")
        survivors = terminate(leftovers, sv.processes)
    else:
        say(f"stopping supervisord (pid {pid}) and its programs")
        result = sv.ctl("shutdown")
        if result.returncode != 0:
            say(f"supervisorctl shutdown: {(result.stdout + result.stderr).strip()}; sending SIGTERM")
            os.kill(pid, 15)
        deadline = time.monotonic() + 90  # the programs' stopwaitsecs are at most 30 s
        next_report = time.monotonic() + 5
        while sv.processes() and time.monotonic() < deadline:
            if time.monotonic() >= next_report:
                say(f"  still stopping: {describe(sv.processes())}")
                next_report += 5
            time.sleep(0.2)
        left = sv.processes()
        survivors = terminate(left, sv.processes) if left else []
    if survivors:
        say(f"could not stop: {describe(survivors)}")
        return 1
    say("stopped")
    return 0


def cmd_status() -> int:
    s = settings_of_running_stack()
    sv = Supervisor(s)
    if sv.pid() is None:
        leftovers = sv.processes()
        say("stack not running" + (f" (leftover processes: {describe(leftovers)}; run `make down`)" if leftovers else ""))
        return 0
    say(sv.ctl("status").stdout.rstrip())
    for p in programs(s):
        if p.ready_url:
            status, body, _ = http_get(p.ready_url, timeout=1)
            version = ready_version(p.ready_url) if p.kind == "inference" else None
            detail = f"version {version}" if version else (body.strip().splitlines() or [""])[0][:120] if status != 200 else "ok"
            say(f"  {p.name} {p.ready_url} -> {status or ''} {detail}")
    version = ready_version(f"{s.url}/readyz")
    say(f"GET {s.url}/readyz -> model version {version or 'none (not ready)'}")
    status, body, _ = http_get(f"http://127.0.0.1:{s.status_port}/nginx_status", timeout=1)
    if status == 200:
        say("nginx: " + " | ".join(line.strip() for line in body.strip().splitlines()))
    return 0


def cmd_logs() -> int:
    s = StackSettings.from_env()
    lines = int_setting(os.environ, "LINES", 50, 1, 100000)
    files = sorted(s.logs.glob("*.log")) if s.logs.is_dir() else []
    if not files:
        say(f"no logs in {s.logs}")
    for path in files:
        say(f"==> {shown(path)} <==")
        for line in tail(path, lines):
            say(line)
        say()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "logs": cmd_logs}
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: python -m harness.localstack {{{'|'.join(commands)}}}", file=sys.stderr)
        return 2
    try:
        return commands[argv[0]]()
    except (StackError, NginxConfigError, RuntimeError) as error:
        print(f"localstack: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `make logs | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print("localstack: interrupted (the stack keeps running; `make down` stops it)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
