"""The online evaluation's state: every answer joined with the same user's later watch and rating
events, in event time, counted per model version and per time bucket.

- An **answer** is a status-200 recommendation line, with the version of its served record.
- A **watch start** is a watch line of a movie the user was not already watching (no line of it in
  the `GAP` before). An answer is a **hit** when the user starts a listed movie within `window`
  seconds after it, and before the same user's next answer (a newer list replaces it on the
  user's screen); its rank is that movie's place in the list (the first started one).
- **Minutes**: the highest minute seen of the hit movie (within `horizon` after the answer).
- **Ratings** of hit movies within `horizon` after the answer.
- **Recommended watches**: of all watch starts, those of a movie listed in the user's latest answer
  (within `window` before); counted under that answer's version ("none": no answer in the window).

Counters are kept per (version, bucket of the answer's or start's event time), `FIELDS` in order.
Events are applied in any order within `lateness`: the join looks both ways (a late answer finds
the starts already seen). An event older than its partition's newest event time minus `lateness`
is counted as late and not applied. State older than the watermark (the oldest partition's newest
event time) minus what lateness still allows is pruned. Everything is plain lists and dicts, saved
as JSON (checkpoint.py).
"""

from __future__ import annotations

import math

from evaluator.events import Event

FIELDS = ("answers", "hits", "rank_sum", "rank_sq", "minutes_sum", "minutes_sq", "ratings", "rating_sum", "rating_sq",
          "starts", "starts_recommended")
F = {name: i for i, name in enumerate(FIELDS)}
GAP = 600.0     # seconds without a watch line of a movie after which its next line starts a new viewing
NO_ANSWER = "none"
UNATTRIBUTED = "unattributed"

# per-user state, lists for JSON: answer = [t, version, bucket, movies, hit_rank], view = [last t, max minute],
# start = [t, movie], followed ref = [version, bucket, answer t, minutes]
A_T, A_VERSION, A_BUCKET, A_MOVIES, A_RANK = range(5)


class Tally:
    def __init__(self, window: float = 1800.0, lateness: float = 300.0, bucket: float = 300.0, horizon: float = 14400.0):
        self.window, self.lateness, self.bucket, self.horizon = window, lateness, bucket, horizon
        self.buckets: dict[str, dict[int, list[float]]] = {}
        self.users: dict[int, dict] = {}
        self.movie_index: dict[str, int] = {}
        self.movie_names: list[str] = []
        self.marks: dict[str, float] = {}   # partition -> newest event time applied
        self.late: dict[str, int] = {}
        self.counts: dict[str, int] = {}    # events by kind, failed answers, unattributed answers, ...

    # -- time ----------------------------------------------------------------------------------
    def watermark(self) -> float:
        return min(self.marks.values()) if self.marks else 0.0

    def settled_until(self) -> float:
        """Answers and starts before this event time can no longer change."""
        return self.watermark() - self.window - self.lateness

    # -- events --------------------------------------------------------------------------------
    def apply(self, partition: str, event: Event, version: str | None = None) -> bool:
        """Apply one event (answers: `version` from the served record, None if none was found).
        False when it came too late to count."""
        mark = self.marks.get(partition)
        if mark is not None and event.time < mark - self.lateness:
            self.late[event.kind] = self.late.get(event.kind, 0) + 1
            return False
        if mark is None or event.time > mark:
            self.marks[partition] = event.time
        self._count(event.kind)
        if event.kind == "watch":
            self._watch(event)
        elif event.kind == "rate":
            self._rate(event)
        elif event.kind == "recommendation":
            if event.value == 200:
                if version is None:
                    self._count("unattributed")
                self._answer(event, version or UNATTRIBUTED)
            else:
                self._count("failed_answers")
        return True

    def _count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def _cell(self, version: str, bucket: int) -> list[float]:
        cells = self.buckets.setdefault(version, {})
        cell = cells.get(bucket)
        if cell is None:
            cell = cells[bucket] = [0.0] * len(FIELDS)
        return cell

    def _user(self, user: int) -> dict:
        state = self.users.get(user)
        if state is None:
            state = self.users[user] = {"a": [], "w": {}, "s": [], "f": {}}
        return state

    def _movie(self, name: str) -> int:
        index = self.movie_index.get(name)
        if index is None:
            index = self.movie_index[name] = len(self.movie_names)
            self.movie_names.append(name)
        return index

    def _answer(self, event: Event, version: str) -> None:
        bucket = math.floor(event.time / self.bucket)
        self._cell(version, bucket)[F["answers"]] += 1
        answer = [event.time, version, bucket, [self._movie(m) for m in event.movies], 0]
        user = self._user(event.user)
        # A late answer: the starts already seen after it, up to its window's end or the next answer.
        end = min([event.time + self.window] + [a[A_T] for a in user["a"] if a[A_T] > event.time])
        for t, movie in sorted(user["s"]):
            if event.time < t <= end and movie in answer[A_MOVIES]:
                self._hit(user, answer, movie)
                break
        user["a"].append(answer)

    def _hit(self, user: dict, answer: list, movie: int) -> None:
        rank = answer[A_MOVIES].index(movie) + 1
        answer[A_RANK] = rank
        cell = self._cell(answer[A_VERSION], answer[A_BUCKET])
        cell[F["hits"]] += 1
        cell[F["rank_sum"]] += rank
        cell[F["rank_sq"]] += rank * rank
        ref = [answer[A_VERSION], answer[A_BUCKET], answer[A_T], 0]
        user["f"].setdefault(movie, []).append(ref)
        view = user["w"].get(movie)
        if view is not None:
            self._minutes(ref, view[1])

    def _minutes(self, ref: list, minute: float) -> None:
        if minute > ref[3]:
            cell = self._cell(ref[0], ref[1])
            cell[F["minutes_sum"]] += minute - ref[3]
            cell[F["minutes_sq"]] += minute * minute - ref[3] * ref[3]
            ref[3] = minute

    def _watch(self, event: Event) -> None:
        user = self._user(event.user)
        movie = self._movie(event.movie)
        view = user["w"].get(movie)
        if view is None or event.time - view[0] > GAP:
            user["w"][movie] = view = [event.time, event.value]
            self._start(user, event.time, movie)
        else:
            view[0] = max(view[0], event.time)
            view[1] = max(view[1], event.value)
        for ref in user["f"].get(movie, ()):
            if event.time <= ref[2] + self.horizon:
                self._minutes(ref, view[1])

    def _start(self, user: dict, t: float, movie: int) -> None:
        user["s"].append([t, movie])
        latest = self._latest_answer(user, t)
        recommended = latest is not None and movie in latest[A_MOVIES]
        if recommended and not latest[A_RANK]:
            self._hit(user, latest, movie)
        cell = self._cell(latest[A_VERSION] if latest else NO_ANSWER, math.floor(t / self.bucket))
        cell[F["starts"]] += 1
        cell[F["starts_recommended"]] += recommended

    def _latest_answer(self, user: dict, t: float) -> list | None:
        """The user's newest answer before `t`, if `t` is within its window."""
        latest = None
        for answer in user["a"]:
            if answer[A_T] < t and (latest is None or answer[A_T] > latest[A_T]):
                latest = answer
        return latest if latest is not None and t <= latest[A_T] + self.window else None

    def _rate(self, event: Event) -> None:
        user = self.users.get(event.user)
        if user is None:
            return
        movie = self.movie_index.get(event.movie)
        for ref in user["f"].get(movie, ()) if movie is not None else ():
            if event.time <= ref[2] + self.horizon:
                cell = self._cell(ref[0], ref[1])
                cell[F["ratings"]] += 1
                cell[F["rating_sum"]] += event.value
                cell[F["rating_sq"]] += event.value * event.value

    # -- housekeeping --------------------------------------------------------------------------
    def prune(self) -> None:
        """Forget what no event within the lateness can still need."""
        wm = self.watermark() - self.lateness
        for user_id in list(self.users):
            user = self.users[user_id]
            user["a"] = [a for a in user["a"] if a[A_T] >= wm - self.window]
            user["s"] = [s for s in user["s"] if s[0] >= wm]
            user["w"] = {m: v for m, v in user["w"].items() if v[0] >= wm - GAP}
            user["f"] = {m: kept for m, refs in user["f"].items()
                         if (kept := [r for r in refs if r[2] >= wm - self.horizon])}
            if not (user["a"] or user["s"] or user["w"] or user["f"]):
                del self.users[user_id]

    def totals(self, version: str) -> list[float]:
        """The version's counters over its whole life, settled or not (what /metrics counts)."""
        total = [0.0] * len(FIELDS)
        for cell in self.buckets.get(version, {}).values():
            for i, value in enumerate(cell):
                total[i] += value
        return total

    # -- saving ----------------------------------------------------------------------------------
    def state(self) -> dict:
        return {"settings": {"window": self.window, "lateness": self.lateness, "bucket": self.bucket, "horizon": self.horizon},
                "buckets": {v: {str(b): cell for b, cell in cells.items()} for v, cells in self.buckets.items()},
                "users": {str(u): {"a": s["a"], "w": [[m, *v] for m, v in s["w"].items()], "s": s["s"],
                                   "f": [[m, refs] for m, refs in s["f"].items()]} for u, s in self.users.items()},
                "movies": self.movie_names, "marks": self.marks, "late": self.late, "counts": self.counts}

    @classmethod
    def from_state(cls, state: dict) -> "Tally":
        tally = cls(**state["settings"])
        tally.buckets = {v: {int(b): cell for b, cell in cells.items()} for v, cells in state["buckets"].items()}
        tally.users = {int(u): {"a": s["a"], "w": {w[0]: w[1:] for w in s["w"]}, "s": s["s"],
                                "f": {m: refs for m, refs in s["f"]}} for u, s in state["users"].items()}
        tally.movie_names = list(state["movies"])
        tally.movie_index = {name: i for i, name in enumerate(tally.movie_names)}
        tally.marks, tally.late, tally.counts = dict(state["marks"]), dict(state["late"]), dict(state["counts"])
        return tally
