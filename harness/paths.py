"""Where things are: the checkout and the virtualenv's programs."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The programs installed next to the running interpreter (.venv/bin under `make`).
VENV_BIN = Path(sys.executable).parent


def shown(path: Path) -> Path:
    """A path as the user would type it: relative to the checkout when inside it."""
    path = Path(path)
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
