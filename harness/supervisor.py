"""The stack description (harness/stackdef.py) under supervisord, the process manager of `make up`:
its configuration, starting it, `supervisorctl`, and finding what is left of an earlier run.

Every program gets autorestart and is stopped as a process group. The configuration is mode 0600.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

from harness.files import write_private
from harness.paths import ROOT, VENV_BIN, shown
from harness.processes import cmdline
from harness.stackdef import Program, StackError, StackSettings

COMMON = """directory={root}
autostart=true
autorestart=true
startretries=10
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={logs}/{name}.log
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=2
"""


def _value(value: str) -> str:
    """A value for supervisord's environment= (its lexer cannot escape quotes)."""
    if "\n" in value or "\r" in value:
        raise StackError(f"environment value with a newline: {value[:40]!r}")
    quote = '"' if '"' not in value else "'"
    if quote in value:
        raise StackError(f"environment value with both quote characters: {value[:40]!r}")
    return (quote + value + quote).replace("%", "%%")


def _environment(env: dict[str, str]) -> str:
    # supervisord keeps the quotes of a 2-character value: leave empty values out.
    return ",".join(f"{k}={_value(v)}" for k, v in env.items() if v != "")


class Supervisor:
    """supervisord for one run directory."""

    def __init__(self, s: StackSettings):
        self.s = s
        self.conf = s.run_dir / "supervisord.conf"
        self.pid_file = s.run_dir / "supervisord.pid"
        self.session_file = s.run_dir / "stack.sid"

    @property
    def socket(self) -> Path:
        path = self.s.run_dir / "supervisor.sock"
        if len(str(path)) < 100:  # AF_UNIX path limit is 108 bytes
            return path
        digest = hashlib.sha1(str(self.s.run_dir).encode(), usedforsecurity=False).hexdigest()[:12]
        return Path("/tmp") / f"recsys-supervisor-{digest}.sock"  # nosec B108  # only when the run dir is too long for AF_UNIX; socket mode 0700

    # -- configuration ------------------------------------------------------------------------
    def program_section(self, p: Program) -> str:
        text = (f"[program:{p.name}]\ncommand={shlex.join(p.argv).replace('%', '%%')}\npriority={p.priority}\n"
                f"startsecs={p.startsecs}\nstopsignal={p.stopsignal}\nstopwaitsecs={p.stopwaitsecs}\n")
        text += COMMON.format(root=ROOT, logs=self.s.logs, name=p.name)
        if p.env:
            text += f"environment={_environment(p.env)}\n"
        return text + "\n"

    def render(self, programs: list[Program]) -> str:
        out = f"""; Written by harness/supervisor.py on every `make up`; edits are overwritten.
[unix_http_server]
file={self.socket}
chmod=0700

[supervisord]
logfile={self.s.logs}/supervisord.log
logfile_maxbytes=10MB
logfile_backups=2
loglevel=info
pidfile={self.pid_file}
childlogdir={self.s.logs}
directory={ROOT}
identifier=recsys-local
nodaemon=false
umask=022

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{self.socket}

"""
        return out + "".join(self.program_section(p) for p in programs)

    def write(self, programs: list[Program]) -> bool:
        return write_private(self.conf, self.render(programs))

    def programs_configured(self) -> set[str]:
        text = self.conf.read_text() if self.conf.exists() else ""
        return set(re.findall(r"^\[program:([^\]]+)\]", text, re.M))

    # -- running ------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """The pid of this run directory's supervisord, if it runs."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        line = cmdline(pid)
        return pid if "supervisord" in line and str(self.conf) in line else None

    def start(self) -> int:
        env = {"PATH": f"{VENV_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "HOME": os.environ.get("HOME", "/root"), "LANG": os.environ.get("LANG", "C.UTF-8")}
        env.update({k: os.environ[k] for k in ("TZ", "TMPDIR", "LC_ALL") if os.environ.get(k)})
        self.pid_file.unlink(missing_ok=True)
        result = subprocess.run([str(VENV_BIN / "supervisord"), "-c", str(self.conf)], env=env, cwd=ROOT,  # nosec B603  # the venv's supervisord
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise StackError(f"supervisord did not start: {(result.stdout + result.stderr).strip()}")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            pid = self.pid()
            if pid and self.ctl("pid").returncode == 0:
                self.session_file.write_text(f"{os.getsid(pid)}\n")
                return pid
            time.sleep(0.2)
        raise StackError(f"supervisord did not come up within 15 s (see {shown(self.s.logs / 'supervisord.log')})")

    def ctl(self, *args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([str(VENV_BIN / "supervisorctl"), "-c", str(self.conf), *args],  # nosec B603  # the venv's supervisorctl
                                capture_output=True, text=True, timeout=timeout, cwd=ROOT)
        if check and result.returncode != 0:
            raise StackError(f"supervisorctl {' '.join(args)} failed: {(result.stdout + result.stderr).strip()}")
        return result

    def states(self) -> dict[str, tuple[str, str]]:
        """{name: (STATE, details)} from `supervisorctl status`."""
        states = {}
        for line in self.ctl("status").stdout.splitlines():
            parts = line.split(None, 2)
            if len(parts) >= 2 and parts[1].isupper():
                states[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
        return states

    # -- what is left of a run ----------------------------------------------------------------
    def processes(self) -> list[int]:
        """Every live process of our supervisord's session (supervisord itself, its programs and their
        children, even after supervisord died): same session id AND working directory in this checkout."""
        try:
            sid = int(self.session_file.read_text().strip())
        except (OSError, ValueError):
            return []
        # Linux does not hand out a pid while it is still some process's session id: if pid `sid`
        # runs and is not our supervisord, that number was reused by somebody else's session.
        leader = cmdline(sid)
        if leader and not ("supervisord" in leader and str(self.conf) in leader):
            return []
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            pid = int(entry.name)
            try:
                if os.getsid(pid) != sid or (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    continue
                cwd = os.readlink(entry / "cwd")
            except (OSError, IndexError):
                continue
            if cwd == str(ROOT) or cwd.startswith(str(ROOT) + os.sep):
                found.append(pid)
        return sorted(found)


def describe(pids: list[int]) -> str:
    return ", ".join(f"{pid} ({cmdline(pid)[:60] or '?'})" for pid in pids)


def terminate(pids: list[int], still_there, grace: float = 10.0) -> list[int]:
    """SIGTERM `pids`, SIGKILL what `still_there()` still lists after `grace` seconds; the survivors."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 0.5)
        while time.monotonic() < deadline:
            if not set(pids) & set(still_there()):
                return []
            time.sleep(0.2)
    return [p for p in pids if p in set(still_there())]
