"""What the suite prints: progress lines, latency summaries of request loops, the timings table
at the end, and on a failure the containers' logs (kept in the log directory) and nginx's errors."""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, TypeVar

from harness.loop import Outcome

if TYPE_CHECKING:
    from compose.engine import Engine

F = TypeVar("F", bound=Callable)


def titled(title: str) -> Callable[[F], F]:
    """A step's name in the progress lines and the timings table (the function's `title`)."""
    def name(function: F) -> F:
        function.title = title  # type: ignore[attr-defined]
        return function
    return name


def log(message: str) -> None:
    print(f"[e2e {time.strftime('%H:%M:%S')}] {message}", flush=True)


def latency(outcomes: Iterable[Outcome], slow: float) -> str:
    """Count and latency of `outcomes`, and how many took longer than `slow` seconds."""
    times = sorted(o.seconds * 1000 for o in outcomes)
    if not times:
        return "no requests"
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    late = sum(1 for t in times if t > slow * 1000)
    return (f"{len(times)} requests, p50 {statistics.median(times):.1f} ms, p95 {p95:.1f} ms, "
            f"max {times[-1]:.1f} ms, > {slow * 1000:.0f} ms: {late}")


@dataclass
class Report:
    """Each step's time and its one-line result, printed as a table when the suite ends."""
    budget: float
    started: float = field(default_factory=time.monotonic)
    rows: list[tuple[str, float, str]] = field(default_factory=list)

    def add(self, name: str, seconds: float, result: str) -> None:
        self.rows.append((name, seconds, result))

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def print(self, ok: bool) -> None:
        print("\ncontainer suite timings:")
        for name, seconds, result in self.rows:
            print(f"  {name:<34} {seconds:7.1f} s" + (f"\n      {result}" if result else ""))
        print(f"  {'total':<34} {self.elapsed():7.1f} s  (budget {self.budget:.0f} s)  {'PASSED' if ok else 'FAILED'}",
              flush=True)


def nginx_errors(engine: "Engine") -> None:
    """nginx's lines about failed requests (errors, and access lines with a 5xx status)."""
    try:
        nginx = engine.containers("nginx", running_only=False)[0]
        lines = [line for line in engine.logs(nginx).splitlines()
                 if ("[error]" in line and "could not be resolved" not in line) or re.search(r'" 5\d\d ', line)]
        for line in lines[-12:]:
            print(f"   nginx: {line[:300]}", flush=True)
    except Exception as error:  # diagnostics are a courtesy
        print(f"(could not read nginx's log: {error})")


def container_logs(engine: "Engine") -> None:
    """Every container's log into the log directory, and its last lines on the terminal."""
    try:
        for container in engine.containers(running_only=False):
            name = engine.inspect(container, "{{.Name}}").lstrip("/")
            text = engine.logs(container)
            path = engine.settings.log_dir / f"container-{name}.log"
            path.write_text(text)
            tail = text.strip().splitlines()[-6:]
            print(f"--- {name} (last lines; all in {path})\n" + "\n".join(tail), flush=True)
        nginx_errors(engine)
    except Exception as error:  # logs are a courtesy
        print(f"(could not collect container logs: {error})")
