"""How a step of the suite fails: `check(condition, message)` raises `SuiteFailure`, an
AssertionError like the one `harness.loop.RequestLoop.check` raises, so the entry point reports both
the same way (not `assert`: the suite must check under `python -O` too)."""

from __future__ import annotations


class SuiteFailure(AssertionError):
    pass


def check(condition: object, message: str) -> None:
    if not condition:
        raise SuiteFailure(message)
