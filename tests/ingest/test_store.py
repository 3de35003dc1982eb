"""The ingester's files (ingest/store.py): named by offsets, atomic, the position derived from them,
what a crash leaves cleaned up, merged hour files, retention."""

from __future__ import annotations

from ingest.store import Chunk, EventStore, parse_name


def store(tmp_path) -> EventStore:
    return EventStore(tmp_path / "events", tmp_path / "quarantine", "movielog1")


def lines(*numbers) -> list[bytes]:
    return [f"2023-10-31T00:00:{n % 60:02d},{n},GET /data/m/x+1999/1.mpg".encode() for n in numbers]


def test_names_round_trip_and_positions_come_from_the_files(tmp_path):
    s = store(tmp_path)
    s.write(0, 0, 0, 9, 1000, lines(*range(10)), [])
    s.write(0, 0, 10, 14, 1060, lines(*range(10, 14)), [("bad time", b"x")])
    s.write(2, 1, 0, 3, 1000, lines(1, 2, 3, 4), [])
    assert s.positions() == {0: (0, 15), 2: (1, 4)}
    chunk = s.chunks()[0]
    assert parse_name(chunk.name) == chunk and chunk.name == "movielog1-p0-e0-000000000000-000000000009-t1000.log"
    assert (tmp_path / "quarantine" / "movielog1-p0-e0-000000000010-000000000014-t1060.log").read_bytes() == b"bad time\tx\n"


def test_recover_removes_what_a_crash_left(tmp_path):
    s = store(tmp_path)
    s.write(0, 0, 0, 9, 1000, lines(*range(10)), [])
    (tmp_path / "events" / ".movielog1-p0-e0-000000000010-000000000019-t1.log.tmp").write_bytes(b"half")
    orphan = Chunk(0, 0, 10, 19, 1100, "movielog1")   # quarantine written, its event file never renamed
    (tmp_path / "quarantine" / orphan.name).write_bytes(b"r\tline\n")
    kept = Chunk(0, 0, 0, 9, 1000, "movielog1")
    (tmp_path / "quarantine" / kept.name).write_bytes(b"r\tline\n")
    removed = s.recover()
    assert orphan.name in removed and ".movielog1-p0-e0-000000000010-000000000019-t1.log.tmp" in removed
    assert [c.name for c in s.chunks(tmp_path / "quarantine")] == [kept.name]
    assert s.positions() == {0: (0, 10)}


def test_compact_merges_an_hour_and_a_crash_after_the_merge_leaves_no_duplicate(tmp_path):
    s = store(tmp_path)
    for n in range(6):   # batches 20 minutes apart
        s.write(1, 0, n * 10, n * 10 + 9, 1000 + n * 1200, lines(*range(n * 10, n * 10 + 10)), [])
    before = b"".join((tmp_path / "events" / c.name).read_bytes() for c in s.chunks())
    merged = s.compact(3600)
    assert [(c.first, c.last, c.merged) for c in merged] == [(0, 29, True)]
    assert b"".join((tmp_path / "events" / c.name).read_bytes() for c in s.chunks()) == before
    # A crash between the merge and removing its batches: recover removes the batches.
    (tmp_path / "events" / Chunk(1, 0, 10, 19, 2200, "movielog1").name).write_bytes(b"dup\n")
    assert s.recover() == [Chunk(1, 0, 10, 19, 2200, "movielog1").name]
    assert b"".join((tmp_path / "events" / c.name).read_bytes() for c in s.chunks()) == before
    assert s.positions() == {1: (0, 60)}


def test_retention_keeps_the_last_file_of_each_partition(tmp_path):
    s = store(tmp_path)
    s.write(0, 0, 0, 9, 1000, lines(1), [])
    s.write(1, 0, 0, 9, 1000, lines(2), [])
    s.write(1, 0, 10, 19, 1000 + 10 * 86_400, lines(3), [])
    removed = s.expire(keep_seconds=2 * 86_400)
    assert removed == ["movielog1-p1-e0-000000000000-000000000009-t1000.log"]
    assert s.positions() == {0: (0, 10), 1: (0, 20)}
