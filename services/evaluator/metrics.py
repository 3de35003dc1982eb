"""The evaluator's Prometheus metrics (ONLINE_METRICS_PORT), computed from the tally at each scrape
with the definitions of summary.py: counters per version (every answer and hit so far, settled or
not: an answer's effect shows at once), gauges per version and window (settled answers only)."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from evaluator.summary import summarize
from evaluator.tally import F

# gauge name -> (figure in summary.figures, help)
WINDOW_GAUGES = {
    "online_hit_rate": ("hit_rate", "Share of settled answers followed by a watch of a listed movie within ONLINE_WINDOW"),
    "online_mean_rank": ("mean_rank", "Mean rank of the watched listed movie"),
    "online_minutes_per_answer": ("minutes_per_answer", "Minutes watched of listed movies per answer"),
    "online_recommended_watch_share": ("recommended_watch_share", "Share of watch starts whose movie had been listed to the user"),
    "online_mean_rating": ("mean_rating", "Mean rating of watched listed movies"),
}


class EvaluatorCollector(Collector):
    def __init__(self, evaluator):
        self.evaluator = evaluator

    def collect(self):
        e = self.evaluator
        with e.lock:
            tally = e.tally
            totals = {version: tally.totals(version) for version in tally.buckets}
            summary = summarize(tally)
            late, counts = dict(tally.late), dict(tally.counts)
        answers = CounterMetricFamily("online_answers", "Status-200 answers seen in the stream, by the version that gave them", labels=["version"])
        hits = CounterMetricFamily("online_hits", "Answers followed by a watch of a listed movie within ONLINE_WINDOW", labels=["version"])
        for version, total in sorted(totals.items()):
            answers.add_metric([version], total[F["answers"]])
            hits.add_metric([version], total[F["hits"]])
        yield answers
        yield hits
        gauges = {name: GaugeMetricFamily(name, text, labels=["version", "window"]) for name, (_, text) in WINDOW_GAUGES.items()}
        low = GaugeMetricFamily("online_hit_rate_low", "Lower end of the hit rate's 95% Wilson interval", labels=["version", "window"])
        high = GaugeMetricFamily("online_hit_rate_high", "Upper end of the hit rate's 95% Wilson interval", labels=["version", "window"])
        settled = GaugeMetricFamily("online_settled_answers", "Answers whose window has passed", labels=["version", "window"])
        for version, windows in summary["versions"].items():
            for window in ("hour", "day", "life"):
                f = windows[window]
                settled.add_metric([version, window], f["answers"])
                for name, (key, _) in WINDOW_GAUGES.items():
                    if f[key] is not None:
                        gauges[name].add_metric([version, window], f[key])
                if f["hit_rate_ci"] is not None:
                    low.add_metric([version, window], f["hit_rate_ci"][0])
                    high.add_metric([version, window], f["hit_rate_ci"][1])
        yield from gauges.values()
        yield from (low, high, settled)
        late_family = CounterMetricFamily("online_late_events", "Events older than their partition's newest minus ONLINE_LATENESS, not counted", labels=["kind"])
        for kind in ("watch", "rate", "recommendation", "account"):
            late_family.add_metric([kind], late.get(kind, 0))
        yield late_family
        yield CounterMetricFamily("online_unattributed_answers", "Answers without a served record (the version is unknown)",
                                  value=counts.get("unattributed", 0))
        events = CounterMetricFamily("online_events", "Events applied, by kind", labels=["kind"])
        for kind in ("watch", "rate", "recommendation", "account"):
            events.add_metric([kind], counts.get(kind, 0))
        yield events
        yield CounterMetricFamily("online_malformed_lines", "Event lines the parser refused", value=e.stats["malformed_lines"])
        yield CounterMetricFamily("online_served_records", "Served records read", value=e.stats["served_records"])
        yield GaugeMetricFamily("online_watermark_timestamp_seconds", "Event time up to which every partition has been read",
                                value=summary["watermark"])
        lag = GaugeMetricFamily("online_consumer_lag_messages", "Messages not yet applied, per topic", labels=["topic"])
        for topic, behind in e.lag.items():
            lag.add_metric([topic], behind)
        yield lag
        yield GaugeMetricFamily("online_last_commit_timestamp_seconds", "When the state was last committed", value=e.committed_at)
