"""Process trees: start a program in a session of its own, stop or kill it with all its children."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc), parents first."""
    try:
        kids = [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return [pid]
    return [pid] + [p for kid in kids for p in process_tree(kid)]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


class Process:
    """One program as a process group: started with its log file, stopped with its children."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, cwd: Path | None = None):
        self.name, self.argv, self.env, self.log_path, self.cwd = name, list(argv), dict(env), Path(log_path), cwd
        self.proc: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> "Process":
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,  # nosec B603  # argv from the stack description
                                         stdin=subprocess.DEVNULL, cwd=self.cwd, start_new_session=True)
        return self

    def signal_group(self, sig: int) -> None:
        if self.running():
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self, sig: int = signal.SIGKILL, timeout: float = 15) -> None:
        """Kill the whole group at once, as a crash would."""
        self.signal_group(sig)
        if self.proc:
            self.proc.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM, grace: float = 15) -> None:
        """`sig` to the group, then SIGKILL after `grace` seconds."""
        if not self.running():
            return
        self.signal_group(sig)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.kill()

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""
