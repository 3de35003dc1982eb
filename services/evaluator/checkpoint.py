"""The evaluator's committed state: the tally, the served-record index and the offsets that go with
them, in one JSON file written atomically (temporary file, rename: a reader, or a restart after a
kill, sees the old state or the new one, never half of one; no fsync, which under another
program's heavy writes can stall the loop for seconds, so a power cut may cost the last few
commits, which are then simply read again from the topics). After a crash the
evaluator starts from the last one and reads on from its offsets, so every message is applied
exactly once. report.json beside it is the summary `trainer online-report` reads.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

FORMAT = 1
STATE = "state.json"
REPORT = "report.json"
log = logging.getLogger(__name__)


def write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def save(state_dir: Path, state: dict, report: dict) -> None:
    write_atomically(state_dir / STATE, json.dumps({"format": FORMAT, **state}, separators=(",", ":")).encode())
    write_atomically(state_dir / REPORT, (json.dumps(report, indent=1) + "\n").encode())


def load(state_dir: Path) -> dict | None:
    """The last committed state, None when there is none. A file that cannot be read is an error
    naming it (starting over would silently count everything a second time into a new state)."""
    path = state_dir / STATE
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_bytes())
    except ValueError as error:
        raise ValueError(f"{path}: not a readable evaluator state ({error}); move it away to start over") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path}: evaluator state of another format ({state.get('format') if isinstance(state, dict) else '?'}); "
                         "move it away to start over")
    return state


def read_report(state_dir: Path) -> dict:
    path = state_dir / REPORT
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path}: no online report yet (is the evaluator running? ONLINE_STATE_DIR)") from None
    except ValueError as error:
        raise ValueError(f"{path}: not a readable report ({error})") from None
