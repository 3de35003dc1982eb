"""What counts as a valid answer to `GET /recommend/<id>`: the one definition, for the tests, the
load test, the benchmark and the container suite.

The simulator counts an answer as a success when it is HTTP 200, one line, 1..20 unique
comma-separated movie ids, within its timeout. A movie id is a slug: lowercase title words joined
by '+', ending in the year (`the+shawshank+redemption+1994`, `monsters_+inc.+2001`): no
whitespace, no commas, nothing that JSON or HTML would bring ('"', brackets, braces, '<', '>').
Reasons are fixed strings, so failures group. Standard library only (locust imports it under gevent).
"""

from __future__ import annotations

import re

MAX_IDS = 20
DEFAULT_LIMIT_MS = 800.0
MOVIE_ID = re.compile(r"[\w.+'&!?:%()\-]+")


def check_answer(status: int, body: str | None, catalog: frozenset[str] | None = None,
                 elapsed_ms: float | None = None, limit_ms: float = DEFAULT_LIMIT_MS, error: BaseException | None = None) -> str | None:
    """None if the simulator would count this answer as a success, else a short fixed reason."""
    if status != 200:
        if status:
            return f"status {status}"
        return f"no answer: {error.__class__.__name__}" if error is not None else "no answer (connection error or timeout)"
    if elapsed_ms is not None and elapsed_ms > limit_ms:
        return f"slower than {limit_ms:g} ms"
    if body is None:
        return "no body"
    line = body[:-1] if body.endswith("\n") else body
    if "\n" in line or "\r" in line:
        return "more than one line"
    if not line:
        return "empty list"
    ids = line.split(",")
    if len(ids) > MAX_IDS:
        return f"more than {MAX_IDS} ids"
    if len(set(ids)) != len(ids):
        return "duplicate ids"
    for movie_id in ids:
        if not MOVIE_ID.fullmatch(movie_id):
            return "malformed id (not a slug: spaces, quotes, brackets or empty)"
    if catalog is not None and not catalog.issuperset(ids):
        return "id not in the catalog"
    return None


def movie_ids(body: str) -> list[str]:
    """The ids of a valid answer body; ValueError with the reason when it is not one."""
    problem = check_answer(200, body)
    if problem:
        raise ValueError(f"not a valid answer ({problem}): {body[:120]!r}")
    return body.rstrip("\n").split(",")
