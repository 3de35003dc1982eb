"""A recommendation line gets the version of the served record with the same user and list that is
closest in time; each record is taken once (evaluator/attribution.py)."""

from __future__ import annotations

from evaluator.attribution import ServedIndex


def record(user, movies, at, version):
    return {"user_id": user, "movies": list(movies), "time": at, "version": version, "request_id": f"r{at}", "resolved": "known"}


def test_the_closest_record_of_the_same_user_and_list_is_taken_once():
    index = ServedIndex()
    for at, version in ((100.0, "v1"), (200.0, "v2")):
        index.add(record(7, ("a", "b"), at, version), at)
    index.add(record(8, ("a", "b"), 150.0, "v3"), 150.0)
    assert index.take(7, ("a", "b"), 190.0)[1] == "v2"
    assert index.take(7, ("a", "b"), 190.0)[1] == "v1"
    assert index.take(7, ("a", "b"), 190.0) is None
    assert index.take(8, ("b", "a"), 150.0) is None   # another list


def test_old_records_are_pruned_and_the_index_survives_its_state():
    index = ServedIndex(keep_seconds=60)
    index.add(record(1, ("a",), 0.0, "v1"), 0.0)
    index.add(record(2, ("a",), 100.0, "v1"), 100.0)
    copy = ServedIndex.from_state(index.state(), keep_seconds=60)
    for each in (index, copy):
        each.prune()
        assert each.take(1, ("a",), 0.0) is None and each.take(2, ("a",), 100.0)[1] == "v1"
