"""Reading typed settings from the environment, with one clear error for a bad value."""

from __future__ import annotations

from pathlib import Path
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


def event_protocol(environ: Mapping[str, str], default: str = "f2023") -> str:
    """EVENT_PROTOCOL: f2023 (ratings 1-5) or s2026 (1-10, create_account lines)."""
    protocol = env_value(environ, "EVENT_PROTOCOL", default)
    if protocol not in ("f2023", "s2026"):
        raise ValueError(f"EVENT_PROTOCOL={protocol!r}: use f2023 or s2026")
    return protocol


def data_path(environ: Mapping[str, str], name: str, under_data_dir: str, default) -> Path:
    """`environ[name]`, else `$DATA_DIR/<under_data_dir>` when DATA_DIR is set, else `default`."""
    if environ.get(name):
        return Path(environ[name])
    data_dir = environ.get("DATA_DIR")
    return Path(data_dir) / under_data_dir if data_dir else Path(default)
