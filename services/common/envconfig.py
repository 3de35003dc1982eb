"""Reading typed settings from the environment, with one clear error for a bad value."""

from __future__ import annotations

from typing import Callable, Mapping, TypeVar

T = TypeVar("T")


def env_value(environ: Mapping[str, str], name: str, default: T, cast: Callable[[str], T] | type = str) -> T:
    """`environ[name]` converted with `cast`, or `default` when unset or empty."""
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    if cast is bool:
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ValueError(f"environment variable {name}={raw!r} is not a boolean (1/0/true/false)")
        return raw.lower() in ("1", "true", "yes")
    try:
        return cast(raw)
    except ValueError:
        raise ValueError(f"environment variable {name}={raw!r} is not a valid {getattr(cast, '__name__', 'value')}") from None
