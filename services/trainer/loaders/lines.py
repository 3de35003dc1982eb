"""Line-oriented files read fast, for every loader: blocks of lines as pyarrow arrays (no copy),
which lines are not UTF-8, and the bookkeeping of the invalid lines of a block in a ParseReport
(blank ones counted, malformed ones counted and the first few kept with file, line and reason).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from trainer.loaders.report import MAX_EXAMPLES, ParseReport, excerpt

BLANK_PATTERN = r"^\s*$"

# Small blocks are faster: big temporaries cost page faults on every allocation.
BLOCK_BYTES = 4 << 20


def read_line_blocks(path: Path, block_bytes: int = BLOCK_BYTES) -> Iterator[tuple[int, pa.Array]]:
    """Yield (1-based number of the first line, binary array of lines) for a file, block by block.

    Each element keeps its trailing newline (if any). A block ends at a newline; the last line
    of the file is yielded even without one.
    """
    first_line = 1
    carry = b""
    with open(path, "rb") as handle:
        while True:
            chunk = handle.read(block_bytes)
            data = carry + chunk if carry else chunk
            if chunk:
                cut = data.rfind(b"\n") + 1
                if cut == 0:  # a line longer than a block: read on
                    carry = data
                    continue
                data, carry = data[:cut], data[cut:]
            elif not data:
                return
            else:
                carry = b""
            lines = lines_array(data)
            yield first_line, lines
            first_line += len(lines)
            if not chunk:
                return


def lines_array(data: bytes) -> pa.Array:
    """bytes -> binary array with one element per line (newline kept), without copying."""
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 10) + 1
    if len(data) and (not len(ends) or ends[-1] != len(data)):
        ends = np.append(ends, len(data))  # a last line without a newline
    offsets = np.concatenate([[0], ends]).astype(np.int64)
    return pa.Array.from_buffers(pa.large_binary(), len(ends),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def invalid_utf8(lines: pa.Array) -> np.ndarray:
    """Boolean mask of the lines that are not valid UTF-8 (only non-ASCII lines are decoded)."""
    bad = np.zeros(len(lines), dtype=bool)
    try:
        lines.cast(pa.large_string())  # validates the whole block at once
        return bad
    except pa.ArrowInvalid:
        pass
    offsets = np.frombuffer(lines.buffers()[1], np.int64)[lines.offset:
                                                          lines.offset + len(lines) + 1]
    data = np.frombuffer(lines.buffers()[2], np.uint8, count=int(offsets[-1]))
    high = np.flatnonzero(data[offsets[0]:] >= 0x80) + offsets[0]
    for index in np.unique(np.searchsorted(offsets, high, side="right") - 1):
        try:
            lines[int(index)].as_py().decode("utf-8")
        except UnicodeDecodeError:
            bad[index] = True
    return bad


def line_text(line: pa.Scalar) -> str:
    return line.as_py().decode("utf-8", errors="replace")


def note_invalid(report: ParseReport, path: Path, first_line: int, lines: pa.Array,
                 valid: np.ndarray, reason: Callable[[str], str],
                 utf8_bad: np.ndarray | None = None) -> None:
    """Count the invalid lines of a block as blank or malformed; keep examples of the malformed.

    ``reason(text)`` explains one malformed line (only called for the kept examples).
    """
    invalid = np.flatnonzero(~valid)
    if not len(invalid):
        return
    candidates = lines.take(pa.array(invalid))
    blank = pc.match_substring_regex(candidates, BLANK_PATTERN).to_numpy(zero_copy_only=False)
    if utf8_bad is not None:
        blank &= ~utf8_bad[invalid]
    report.add("blank", int(blank.sum()))
    malformed = invalid[~blank]
    room = MAX_EXAMPLES - len(report.examples)
    for index in malformed[:max(room, 0)]:
        text = line_text(lines[int(index)])
        why = "not UTF-8" if utf8_bad is not None and utf8_bad[index] else reason(text)
        explained = f"{why}: {excerpt(text)!r}"
        report.first_of("malformed", path, first_line + int(index), explained)
        report.note(path, first_line + int(index), explained)
    report.skipped += len(malformed)
