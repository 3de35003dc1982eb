"""The course's event lines, as the real simulator writes them, and the bad data it injects.

    <time>,<userid>,GET /data/m/<movieid>/<minute>.mpg        one per minute watched
    <time>,<userid>,GET /rate/<movieid>=<rating>               1..5 (f2023) or 1..10 (s2026)
    <time>,<userid>,recommendation request <server>, status <code>, result: <ids>, <ms> ms
    <time>,<userid>,GET /create_account                        s2026 only

Times are Java's LocalDateTime.toString(): seconds are left out when they are :00 (about one
line in 60 of the real stream), recommendation lines carry milliseconds. Corruptions are the
kinds seen in a real 2023 dump (../shared/protocol.md); each one makes a line that our parser
refuses, so the quarantine can be checked against the simulator's own count.
"""

from __future__ import annotations

import datetime as dt
import random

SERVER = "recsys.local:8082"
EPOCH = dt.datetime(1970, 1, 1)


def java_time(seconds: float, millis: bool = False) -> str:
    """LocalDateTime.toString() of a simulated time (seconds since the epoch, UTC)."""
    moment = EPOCH + dt.timedelta(seconds=seconds)
    if millis and moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"
    moment = moment.replace(microsecond=0)
    if moment.second == 0:
        return moment.strftime("%Y-%m-%dT%H:%M")
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def watch(t: float, user: int, movie: str, minute: int) -> str:
    return f"{java_time(t)},{user},GET /data/m/{movie}/{minute}.mpg"


def rate(t: float, user: int, movie: str, rating: int) -> str:
    return f"{java_time(t)},{user},GET /rate/{movie}={rating}"


def create_account(t: float, user: int) -> str:
    return f"{java_time(t)},{user},GET /create_account"


def recommendation(t: float, user: int, status: int, result: str, millis: int) -> str:
    """`result`: the comma-separated ids of a 200 (written with ', ' as the course does), else the
    exception text or body."""
    shown = ", ".join(result.split(",")) if status == 200 else result
    return f"{java_time(t, millis=True)},{user},recommendation request {SERVER}, status {status}, result: {shown}, {millis} ms"


def _in_time(line: str, rng: random.Random, what: str) -> str:
    time, rest = line.split(",", 1)
    position = rng.randrange(1, len(time) - 1)
    return time[:position] + what + time[position:] + "," + rest


def _user(line: str, rng: random.Random) -> str:
    time, user, rest = line.split(",", 2)
    position = rng.randrange(0, len(user) + 1)
    return f"{time},{user[:position]}{rng.choice('elOI')}{user[position:]},{rest}"


def _movie_space(line: str, rng: random.Random) -> str:
    head, sep, tail = line.partition("/m/") if "/m/" in line else line.partition("/rate/")
    position = rng.randrange(0, max(1, tail.index("/") if "/m/" in line else tail.index("=")))
    return head + sep + tail[:position] + " " + tail[position:]


def _rating_letter(line: str, rng: random.Random) -> str:
    return line[: line.rindex("=") + 1] + rng.choice("EFB")


def _space_before_get(line: str, rng: random.Random) -> str:
    time, user, rest = line.split(",", 2)
    return f"{time},{user}, {rest}"


# kind -> (applies to, corrupt(line, rng)). Recommendation lines are never corrupted: their
# free-form tail would still parse (and the course's injected examples are all watch/rate lines).
CORRUPTIONS = {
    "letter in the time": (("watch", "rate"), lambda line, rng: _in_time(line, rng, rng.choice("sA"))),
    "space in the date": (("watch", "rate"), lambda line, rng: _in_time(line, rng, " ")),
    "letter in the user id": (("watch", "rate"), _user),
    "space in the movie id": (("watch", "rate"), _movie_space),
    "letter as the rating": (("rate",), _rating_letter),
    "space before GET": (("watch", "rate"), _space_before_get),
}


def corrupt(line: str, kind_of_line: str, rng: random.Random) -> tuple[str, str]:
    """(corrupted line, corruption kind) for a watch or rate line."""
    kinds = [name for name, (applies, _) in CORRUPTIONS.items() if kind_of_line in applies]
    name = rng.choice(kinds)
    return CORRUPTIONS[name][1](line, rng), name
