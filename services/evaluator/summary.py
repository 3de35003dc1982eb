"""The online metrics, each defined once, from the tally's counters (evaluator/tally.py): what
/metrics exports, what report.json holds and what `trainer online-report` prints and plots.

Per version and window (`hour`, `day`: the last hour or day of settled event time; `life`: all of
it). Only settled answers count (the window after them, plus the lateness, has passed), so a
figure never moves because its answers are still young:

- hit_rate: hits / answers, with its 95% Wilson interval;
- mean_rank: the mean rank of the watched listed movie (hits only), normal interval;
- minutes_per_answer: minutes watched of listed movies per answer (0 for a miss), normal interval;
- recommended_watch_share: the share of watch starts whose movie had been listed to the user within
  the window, Wilson interval;
- mean_rating: the mean rating of watched listed movies, normal interval.
"""

from __future__ import annotations

import math

from common.stats import mean_interval, wilson
from evaluator.tally import F, FIELDS, Tally

WINDOWS = {"hour": 3600.0, "day": 86400.0, "life": math.inf}


def figures(cell: list[float]) -> dict:
    answers, hits = cell[F["answers"]], cell[F["hits"]]
    starts, ratings = cell[F["starts"]], cell[F["ratings"]]

    def ratio(a: float, b: float) -> float | None:
        return a / b if b else None

    return {
        "answers": int(answers), "hits": int(hits), "starts": int(starts), "ratings": int(ratings),
        "hit_rate": ratio(hits, answers), "hit_rate_ci": wilson(hits, answers),
        "mean_rank": ratio(cell[F["rank_sum"]], hits), "mean_rank_ci": mean_interval(cell[F["rank_sum"]], cell[F["rank_sq"]], hits),
        "minutes_per_answer": ratio(cell[F["minutes_sum"]], answers),
        "minutes_per_answer_ci": mean_interval(cell[F["minutes_sum"]], cell[F["minutes_sq"]], answers),
        "recommended_watch_share": ratio(cell[F["starts_recommended"]], starts),
        "recommended_watch_share_ci": wilson(cell[F["starts_recommended"]], starts),
        "mean_rating": ratio(cell[F["rating_sum"]], ratings),
        "mean_rating_ci": mean_interval(cell[F["rating_sum"]], cell[F["rating_sq"]], ratings),
    }


def add(total: list[float], cell: list[float]) -> None:
    for i, value in enumerate(cell):
        total[i] += value


def summarize(tally: Tally) -> dict:
    until = tally.settled_until()
    versions = {}
    for version, cells in sorted(tally.buckets.items()):
        sums = {name: [0.0] * len(FIELDS) for name in WINDOWS}
        for bucket, cell in cells.items():
            end = (bucket + 1) * tally.bucket
            if end > until:
                continue
            for name, length in WINDOWS.items():
                if end > until - length:
                    add(sums[name], cell)
        versions[version] = {name: figures(total) for name, total in sums.items()}
        versions[version]["all"] = figures(tally.totals(version))   # settled or not
    return {"watermark": tally.watermark(), "settled_until": until, "window": tally.window,
            "lateness": tally.lateness, "bucket": tally.bucket, "versions": versions,
            "late": dict(tally.late), "counts": dict(tally.counts)}


def series(tally: Tally, step: float | None = None) -> dict[str, list[dict]]:
    """Hit rate over event time per version, settled buckets merged into steps of `step` seconds
    (default: the bucket), each point with its Wilson interval."""
    step = max(tally.bucket, step or tally.bucket)
    until = tally.settled_until()
    out: dict[str, list[dict]] = {}
    for version, cells in sorted(tally.buckets.items()):
        merged: dict[int, list[float]] = {}
        for bucket, cell in cells.items():
            if (bucket + 1) * tally.bucket <= until:
                add(merged.setdefault(math.floor(bucket * tally.bucket / step), [0.0] * len(FIELDS)), cell)
        points = []
        for index in sorted(merged):
            cell = merged[index]
            if cell[F["answers"]]:
                low, high = wilson(cell[F["hits"]], cell[F["answers"]])
                points.append({"time": index * step, "answers": int(cell[F["answers"]]), "hits": int(cell[F["hits"]]),
                               "hit_rate": cell[F["hits"]] / cell[F["answers"]], "low": low, "high": high})
        if points:
            out[version] = points
    return out
