"""The settings file a running local stack leaves in its run directory, so that tools beside it (the
trainer CLI, scripts) reach it with no settings of their own.

`make up` writes `<run dir>/stack.env` (`.run/stack.env`; harness/stack writes it with
`write()`): KEY=VALUE lines for how to reach the stack's parts (REDIS_HOST, REDIS_PORT,
REDIS_USERNAME, REDIS_PASSWORD_FILE, WEIGHTS_PREFIX, ...), no secret itself (the password stays in
its 0600 file). `environ()` is the process environment with those values filled in. Explicit
environment variables win, by group: one REDIS_* variable set in the environment and none of the
file's REDIS_* values is used, so a setting from the file never mixes with one given by hand.

Where the file is looked for: `$STACK_RUN_DIR/stack.env` when STACK_RUN_DIR is set (and nowhere
else then), else `.run/stack.env` of the checkout the code runs from.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

FILE_NAME = "stack.env"
DEFAULT_RUN_DIR = Path(__file__).resolve().parents[2] / ".run"
_LINE = re.compile(r"([A-Z][A-Z0-9_]*)=(.*)")


def path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    run_dir = env.get("STACK_RUN_DIR")
    return (Path(run_dir) if run_dir else DEFAULT_RUN_DIR) / FILE_NAME


def read(file: Path) -> dict[str, str]:
    """The file's KEY=VALUE pairs; {} when it does not exist. ValueError names a bad line."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.fullmatch(line.strip())
        if not match:
            raise ValueError(f"{file}:{number}: expected KEY=VALUE, got {line[:60]!r}")
        values[match.group(1)] = match.group(2)
    return values


def _group(name: str) -> str:
    return name.split("_", 1)[0]


def environ(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """`base` (the process environment) with the running stack's settings filled in."""
    env = dict(os.environ if base is None else base)
    given = {_group(name) for name, value in env.items() if value}
    for name, value in read(path(env)).items():
        if _group(name) not in given:
            env[name] = value
    return env


def write(run_dir: Path, values: Mapping[str, str]) -> Path:
    """Write `<run_dir>/stack.env` atomically (mode 0644: it holds no secret)."""
    file = Path(run_dir) / FILE_NAME
    bad = [k for k, v in values.items() if not re.fullmatch(r"[A-Z][A-Z0-9_]*", k) or "\n" in str(v)]
    if bad:
        raise ValueError(f"stack settings that cannot be written: {bad}")
    text = "# Written by `make up` (harness/stack); how tools reach this stack. Edits are overwritten.\n"
    text += "".join(f"{k}={v}\n" for k, v in values.items())
    tmp = file.with_name(f".{FILE_NAME}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, file)
    return file
