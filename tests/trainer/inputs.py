"""Small hand-written trainer inputs for the tests: event-log lines, and simulator-format and
MovieLens directories holding them."""

from __future__ import annotations

from pathlib import Path

T = "2023-10-01T12:34:56"
USERS = "user_id,age,occupation,gender\n1,24,programmer,M\n2,31,writer,F\n3,45,artist,M\n"
MOVIES = "movie_id,title,year,genres\na+1999,A,1999,Action\nb+2000,B,2000,Drama\nc+2001,C,2001,Comedy\n"


def good_events(n: int) -> list[str]:
    """n valid rate lines over 3 users and 3 movies (all positives)."""
    return [f"{T},{1 + i % 3},GET /rate/{'abc'[i // 3 % 3]}+{1999 + i // 3 % 3}=5" for i in range(n)]


def write(path: Path, content: bytes | str) -> Path:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def simulator_dir(root: Path, events: bytes | str, users: bytes | str = USERS,
                  movies: bytes | str = MOVIES) -> Path:
    (root / "events").mkdir(parents=True, exist_ok=True)
    for name, content in (("users.csv", users), ("movies.csv", movies),
                          ("events/events-0001.log", events)):
        write(root / name, content)
    return root


def item_line(item: int, title: str, date: str = "01-Jan-1995", flags=(0,) * 18 + (1,)) -> str:
    """A u.item line: id, title, release date, no video date, a URL, one 0/1 flag per genre."""
    return f"{item}|{title}|{date}||http://x|" + "|".join(map(str, flags))


def movielens_dir(root: Path, data: bytes | str, **files: bytes | str) -> Path:
    """u.data, and u.<name> for each keyword (user=..., item=..., genre=...)."""
    root.mkdir(parents=True, exist_ok=True)
    write(root / "u.data", data)
    for name, content in files.items():
        write(root / f"u.{name}", content)
    return root
