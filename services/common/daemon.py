"""What every long-running program of ours does first: log to stderr in one format, read its
settings from the environment (a bad one is one line and exit 2), stop cleanly on SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Callable, TypeVar

T = TypeVar("T")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT, stream=sys.stderr)


def settings_or_exit(program: str, read: Callable[[], T]) -> T:
    """`read()`, or one line naming the bad setting on stderr and exit status 2."""
    try:
        return read()
    except ValueError as error:
        print(f"{program}: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def on_stop(stop: Callable[[], None]) -> None:
    """Call `stop()` on SIGTERM or SIGINT (the program then finishes its work and exits)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop())
