"""Which version gave an answer: a recommendation line in the stream carries the user and the list
but not the version; the replica's served record (common/served.py) carries all three. A line takes
the served record of the same user and list that is closest in time, and each record is taken once.
"""

from __future__ import annotations

from collections import deque

KEEP_SECONDS = 300.0   # served records older than this (behind the newest) can no longer be taken


class ServedIndex:
    def __init__(self, keep_seconds: float = KEEP_SECONDS):
        self.keep = keep_seconds
        self.by_key: dict[tuple, list[list]] = {}   # (user, movies) -> [[time, version, request_id, resolved], ...]
        self.order: deque = deque()                 # (time, key), oldest first, for pruning
        self.newest = 0.0                           # the newest served message's timestamp (seconds)

    def add(self, record: dict, message_time: float) -> None:
        key = (record["user_id"], tuple(record["movies"]))
        entry = [float(record["time"]), record["version"], record.get("request_id", ""), record.get("resolved", "")]
        self.by_key.setdefault(key, []).append(entry)
        self.order.append((entry[0], key))
        self.newest = max(self.newest, message_time)

    def take(self, user: int, movies: tuple, at: float) -> list | None:
        """The served record of this answer ([time, version, request_id, resolved]) or None."""
        entries = self.by_key.get((user, movies))
        if not entries:
            return None
        best = min(range(len(entries)), key=lambda i: abs(entries[i][0] - at))
        entry = entries.pop(best)
        if not entries:
            del self.by_key[(user, movies)]
        return entry

    def prune(self) -> None:
        horizon = self.newest - self.keep
        while self.order and self.order[0][0] < horizon:
            at, key = self.order.popleft()
            entries = self.by_key.get(key)
            if entries:
                entries[:] = [e for e in entries if e[0] >= horizon]
                if not entries:
                    del self.by_key[key]

    def state(self) -> dict:
        return {"newest": self.newest, "entries": [[user, list(movies), *entry] for (user, movies), entries
                                                   in self.by_key.items() for entry in entries]}

    @classmethod
    def from_state(cls, state: dict, keep_seconds: float = KEEP_SECONDS) -> "ServedIndex":
        index = cls(keep_seconds)
        for user, movies, at, version, request_id, resolved in sorted(state.get("entries", []), key=lambda e: e[2]):
            index.add({"user_id": user, "movies": movies, "time": at, "version": version, "request_id": request_id,
                       "resolved": resolved}, 0.0)
        index.newest = float(state.get("newest", 0.0))
        return index
