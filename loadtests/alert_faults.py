"""Every alert fault against a monitored stack under simulator load, with the figures
(`make alerts-demo`; harness/monitored.py): for each fault, the seconds until its alert fired in
Prometheus, reached the webhook, and was resolved at the webhook after the fault ended.

    python -m loadtests.alert_faults [--only RedisDown,ModelVersionRefused]

Exit code 1 when an alert did not fire or resolve in time. Prometheus scrapes every second and
evaluates the production rules with `for: 2s` and 10 s range windows (monitoring.fast_rules).
Run as root, the event directory gets a tmpfs of its own (EVENT_DISK_MB, 512) that
EventDiskNearlyFull's fault fills; otherwise that fault is reported as not run. CanaryRolledBack
has no fault: its counter comes with the experiment decision program (issue #15).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

from harness.monitored import FAULTS, Faults, MonitoredStack

EVENT_DISK_MB = int(os.environ.get("EVENT_DISK_MB", "512"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated alert names (default: all of " + ", ".join(FAULTS) + ")")
    parser.add_argument("--keep", action="store_true", help="keep the work dir (program logs under stack/run/logs)")
    args = parser.parse_args(argv)
    names = [n for n in args.only.split(",") if n] or list(FAULTS)
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        print(f"alert_faults: unknown fault {', '.join(unknown)} (known: {', '.join(FAULTS)})", file=sys.stderr)
        return 2
    failed = []
    with (contextlib.nullcontext(tempfile.mkdtemp(prefix="alert-faults-")) if args.keep
          else tempfile.TemporaryDirectory(prefix="alert-faults-")) as work, MonitoredStack(Path(work), event_disk_mb=EVENT_DISK_MB if os.geteuid() == 0 else 0) as m:
        print(f"stack with a model in {m.ready_seconds:.1f} s; faults: {', '.join(names)}", flush=True)
        faults = Faults(m)
        for name in names:
            started = time.monotonic()
            try:
                FAULTS[name](faults)
                print(f"{name}: ok ({time.monotonic() - started:.1f} s)", flush=True)
            except (AssertionError, TimeoutError, RuntimeError) as error:
                failed.append(name)
                print(f"{name}: FAILED: {error}", flush=True)
        print(faults.report())
    if args.keep:
        print(f"work dir kept: {work}")
    print("all alerts fired and resolved in time" if not failed else f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
