"""What a loader tells about its input: a :class:`ParseReport` per file, and the two ways loading
fails (:class:`DataFormatError`, :func:`check_malformed`).

A malformed line or row is never silently dropped: every loader (:mod:`trainer.loaders.eventlog`,
:mod:`trainer.loaders.tables`, :mod:`trainer.loaders.movielens`) counts it in a ParseReport and
keeps the first few with their file and 1-based line number. One bad line is not fatal; a file
with too many (more than ``TRAIN_MAX_MALFORMED``, see :func:`check_malformed`) is, because a model
trained on what is left of it would be quietly wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAX_EXAMPLES = 20
EXCERPT_CHARS = 120
SUMMARY_EXAMPLES = 3
# Values that a loader keeps as NA in an otherwise good row: count key -> (rows key, what).
REPAIRED = {"bad_age": ("users", "ages"), "bad_gender": ("users", "genders"),
            "bad_year": ("movies", "years")}


class DataFormatError(ValueError):
    """An input cannot be used at all (missing file or column); the message names the file."""


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """A line shortened for a report: trailing newline removed, long text cut with an ellipsis."""
    text = text.rstrip("\r\n")
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class ParseReport:
    """What one loader read and skipped, for the operator."""

    source: str                      # file or directory name
    lines: int = 0                   # lines/rows read
    skipped: int = 0                 # malformed lines/rows skipped
    examples: list[tuple[str, int, str]] = field(default_factory=list)  # (path, line, reason)
    counts: dict[str, int] = field(default_factory=dict)
    # The first example of each kind of problem ("malformed", or a REPAIRED key), kept even when
    # `examples` is full: what an error about that kind names.
    first: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    window: tuple[str | None, str | None] = (None, None)   # event logs: the first and last event time

    def skip(self, path, line: int, reason: str) -> None:
        """Count one skipped line and keep it as an example while there is room."""
        self.skipped += 1
        self.first_of("malformed", path, line, reason)
        self.note(path, line, reason)

    def first_of(self, kind: str, path, line: int, reason: str) -> None:
        self.first.setdefault(kind, (str(path), int(line), reason))

    def note(self, path, line: int, reason: str) -> None:
        """Keep an example (a skipped line, or a kept row with a repaired value) if there is room."""
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((str(path), int(line), reason))

    def add(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + int(n)

    def summary(self) -> str:
        text = f"{self.source}: {self.lines:,} lines, {self.skipped:,} malformed skipped"
        extra = ", ".join(f"{key} {value:,}" for key, value in self.counts.items() if value)
        if extra:
            text += f" ({extra})"
        if self.examples:
            text += " (first: " + "; ".join(f"{path.rsplit('/', 1)[-1]}:{line}: {reason}" for
                                           path, line, reason in self.examples[:SUMMARY_EXAMPLES])
            text += ", ...)" if len(self.examples) > SUMMARY_EXAMPLES else ")"
        return text


def check_malformed(reports: list[ParseReport], max_fraction: float) -> None:
    """DataFormatError when more than ``max_fraction`` of a file's lines were malformed (blank lines
    do not count), or of its kept rows lost a value (REPAIRED: e.g. every gender unusable, as when
    columns are swapped). Below that the skips are only reported.

    One report is one file, except the event log: all of its files together.
    """
    for report in reports:
        checks = [("malformed", report.skipped, report.lines - report.counts.get("blank", 0),
                   "lines malformed")]
        checks += [(kind, report.counts[kind], report.counts.get(rows, 0), f"{what} unusable")
                   for kind, (rows, what) in REPAIRED.items() if kind in report.counts]
        for kind, bad, total, what in checks:
            if bad and bad > max_fraction * total:
                first = report.first.get(kind)
                where = f"; first: {first[0]}:{first[1]}: {first[2]}" if first else ""
                raise DataFormatError(
                    f"{report.source}: {bad:,} of {total:,} {what} ({bad / total:.1%}), more than "
                    f"the {max_fraction * 100:g}% allowed (TRAIN_MAX_MALFORMED, --max-malformed)"
                    f"{where}")
