"""Private files: written atomically, mode 0600 (they hold passwords)."""

from __future__ import annotations

import os
from pathlib import Path


def write_private(path: Path, text: str) -> bool:
    """Write a 0600 file atomically; True when the content changed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else None
    if old == text:
        os.chmod(path, 0o600)
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return True
