"""The online evaluation's join and counters (evaluator/tally.py), on hand-made events."""

from __future__ import annotations

import json

from evaluator.events import Event
from evaluator.summary import figures, summarize
from evaluator.tally import F, NO_ANSWER, UNATTRIBUTED, Tally

T0 = 1_700_000_000.0
LIST = ("a+1", "b+2", "c+3")


def answer(t, user=1, movies=LIST):
    return Event("recommendation", T0 + t, user, None, 200, movies)


def watch(t, movie, minute=1, user=1):
    return Event("watch", T0 + t, user, movie, minute)


def rate(t, movie, stars, user=1):
    return Event("rate", T0 + t, user, movie, stars)


def play(events, tally=None, partition="0"):
    tally = tally or Tally(window=1800, lateness=300, bucket=300, horizon=4 * 3600)
    for event, version in events:
        tally.apply(partition, event, version)
    return tally


def test_a_listed_movie_started_within_the_window_is_a_hit_with_its_rank_minutes_and_rating():
    tally = play([(answer(0), "v1"), (watch(60, "b+2", 1), None), (watch(120, "b+2", 2), None),
                  (watch(180, "b+2", 3), None), (rate(400, "b+2", 4), None)])
    total = tally.totals("v1")
    assert total[F["answers"]] == 1 and total[F["hits"]] == 1 and total[F["rank_sum"]] == 2
    assert total[F["minutes_sum"]] == 3 and total[F["ratings"]] == 1 and total[F["rating_sum"]] == 4
    assert total[F["starts"]] == 1 and total[F["starts_recommended"]] == 1


def test_no_hit_after_the_window_or_for_an_unlisted_movie_or_before_the_answer():
    tally = play([(watch(-60, "a+1"), None), (answer(0), "v1"), (watch(30, "zzz+9"), None), (watch(1801, "c+3"), None)])
    total = tally.totals("v1")
    assert total[F["answers"]] == 1 and total[F["hits"]] == 0
    # the start after the window has no answer in its window: an organic watch
    assert tally.totals(NO_ANSWER)[F["starts"]] == 2 and total[F["starts"]] == 1 and total[F["starts_recommended"]] == 0


def test_a_newer_answer_takes_over_the_users_later_watches():
    tally = play([(answer(0), "v1"), (answer(100, movies=("x+1", "a+1")), "v2"), (watch(200, "a+1"), None)])
    assert tally.totals("v1")[F["hits"]] == 0
    assert tally.totals("v2")[F["hits"]] == 1 and tally.totals("v2")[F["rank_sum"]] == 2


def test_continuing_a_movie_is_not_a_new_start():
    tally = play([(watch(-120, "a+1", 5), None), (answer(0), "v1"), (watch(-60, "a+1", 6), None), (watch(0.5, "a+1", 7), None)])
    assert tally.totals("v1")[F["hits"]] == 0


def test_an_answer_arriving_after_the_watch_it_led_to_still_counts():
    tally = play([(watch(90, "c+3"), None), (answer(0), "v1")])   # out of order, within the lateness
    assert tally.totals("v1")[F["hits"]] == 1 and tally.totals("v1")[F["rank_sum"]] == 3


def test_events_older_than_the_lateness_are_counted_as_late_and_not_applied():
    tally = play([(watch(1000, "zzz+1"), None), (answer(0), "v1"), (watch(800, "a+1"), None), (watch(650, "b+2"), None)])
    assert tally.late == {"recommendation": 1, "watch": 1}   # 650 < 1000 - 300; 800 is within
    assert tally.totals("v1")[F["answers"]] == 0
    # each partition has its own lateness: another partition's older events are fine
    tally.apply("1", answer(0, user=2), "v1")
    assert tally.totals("v1")[F["answers"]] == 1


def test_an_answer_without_a_served_record_is_unattributed_and_failures_are_not_answers():
    tally = play([(answer(0), None), (Event("recommendation", T0 + 1, 2, None, 0, ()), None)])
    assert tally.totals(UNATTRIBUTED)[F["answers"]] == 1
    assert tally.counts["unattributed"] == 1 and tally.counts["failed_answers"] == 1


def test_windows_count_only_settled_answers():
    tally = play([(answer(0), "v1"), (watch(60, "a+1"), None), (answer(5000, user=2), "v1"), (watch(5000, "q", user=3), None)])
    summary = summarize(tally)["versions"]["v1"]
    # the watermark is T0+5000: the second answer's window (plus lateness) has not passed yet
    assert summary["life"]["answers"] == 1 and summary["life"]["hit_rate"] == 1.0
    assert summary["all"]["answers"] == 2 and summary["all"]["hit_rate"] == 0.5
    assert summary["hour"]["answers"] == 1


def test_the_state_survives_json_and_goes_on_counting_the_same():
    first = [(answer(0), "v1"), (watch(60, "a+1"), None), (answer(100, user=2), "v1")]
    rest = [(watch(160, "b+2", user=2), None), (watch(220, "b+2", 2, user=2), None), (rate(900, "b+2", 5, user=2), None)]
    straight = play(first + rest)
    resumed = play(rest, Tally.from_state(json.loads(json.dumps(play(first).state()))))
    assert resumed.state() == straight.state()


def test_pruning_keeps_what_the_lateness_can_still_need():
    tally = play([(answer(0), "v1"), (watch(10_000, "q", user=9), None)])
    tally.prune()
    assert 1 not in tally.users and tally.totals("v1")[F["answers"]] == 1


def test_figures_have_intervals_around_their_value():
    cell = [0.0] * len(F)
    cell[F["answers"]], cell[F["hits"]] = 200, 140
    f = figures(cell)
    low, high = f["hit_rate_ci"]
    assert low < f["hit_rate"] == 0.7 < high and round(high - low, 3) == 0.126
    assert figures([0.0] * len(F))["hit_rate"] is None
