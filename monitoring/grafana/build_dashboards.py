"""The Grafana dashboards, built with the Grafana Foundation SDK (grafana-foundation-sdk) and
written to monitoring/grafana/dashboards/*.json, which Grafana provisions (compose, profile
`grafana`) and tests/monitoring checks: the committed files equal what this builds, and every
panel's query returns data from a real Prometheus scraping a running stack under simulator load.

    .venv/bin/python monitoring/grafana/build_dashboards.py          (make dashboards)

Queries use fixed windows and no Grafana macros, so they run unchanged against Prometheus itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.builders.dashboard import Dashboard, Row
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")   # provisioning/datasources/prometheus.yml
RECOMMEND = 'job="inference",route=~"/recommend.*"'


def query(expr: str, legend: str = "", ref: str = "A") -> prometheus.Dataquery:
    q = prometheus.Dataquery().expr(expr).ref_id(ref).datasource(DATASOURCE)
    return q.legend_format(legend) if legend else q


def graph(title: str, unit: str, *queries: tuple[str, str], description: str = "", width: int = 12) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).span(width).height(8)
    if description:
        panel = panel.description(description)
    for n, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, legend, chr(ord("A") + n)))
    return panel


def number(title: str, unit: str, expr: str, legend: str = "", width: int = 6) -> stat.Panel:
    return (stat.Panel().title(title).unit(unit).datasource(DATASOURCE).span(width).height(4)
            .with_target(query(expr, legend)))


def dashboard(uid: str, title: str, description: str) -> Dashboard:
    return (Dashboard(title).uid(uid).description(description).tags(["recsys"]).refresh("10s")
            .time("now-1h", "now").timezone("browser").editable())


def service() -> Dashboard:
    return (dashboard("recsys-service", "Recsys: service overview", "Requests, errors and latency of /recommend, per replica")
            .with_row(Row("Traffic"))
            .with_panel(number("replicas up", "none", "job:recsys_replicas_up:count"))
            .with_panel(number("replicas serving a model", "none", "job:recsys_replicas_serving:count"))
            .with_panel(number("/recommend rate", "reqps", "job:recsys_recommend_requests:rate1m"))
            .with_panel(number("5xx share (5 min)", "percentunit", "job:recsys_recommend_error_share:ratio_rate5m"))
            .with_panel(graph("/recommend requests per replica", "reqps",
                              ("instance:recsys_recommend_requests:rate1m", "{{replica}}")))
            .with_panel(graph("/recommend answers by status", "reqps", ("status:recsys_recommend_requests:rate1m", "{{status}}")))
            .with_row(Row("Latency"))
            .with_panel(graph("/recommend latency (all replicas)", "s",
                              ("job:recsys_recommend_latency_seconds:p50_5m", "p50"),
                              ("job:recsys_recommend_latency_seconds:p90_5m", "p90"),
                              ("job:recsys_recommend_latency_seconds:p99_5m", "p99"),
                              description="Alert at p99 > 300 ms for 5 min; the simulator's budget is 800 ms (600 ms in 2026)"))
            .with_panel(graph("p99 per replica", "s", ("instance:recsys_recommend_latency_seconds:p99_5m", "{{replica}}")))
            .with_row(Row("nginx and Redis"))
            .with_panel(graph("nginx connections", "none", ("nginx_connections_active", "active"),
                              ("nginx_connections_waiting", "waiting")))
            .with_panel(graph("nginx requests", "reqps", ("rate(nginx_http_requests_total[1m])", "requests")))
            .with_panel(graph("Redis memory", "bytes", ("redis_memory_used_bytes", "used")))
            .with_panel(graph("Redis clients and commands", "none", ("redis_connected_clients", "clients"),
                              ("sum(rate(redis_commands_processed_total[1m]))", "commands/s")))
            .with_row(Row("The simulator's truth (when it runs)"))
            .with_panel(graph("simulator: answered, late, failed", "reqps",
                              ("sum(rate(sim_answered_total[1m]))", "answered"),
                              ("sum(rate(sim_late_total[1m])) or vector(0)", "late"),
                              ("sum(rate(sim_failed_total[1m])) or vector(0)", "failed"),
                              description="The simulator's own view of the answers (its truth is never an input of an alert)",
                              width=24)))


def models() -> Dashboard:
    return (dashboard("recsys-models", "Recsys: models", "Versions serving, loads, refusals, swaps, training history")
            .with_row(Row("Serving"))
            .with_panel(graph("version number served per replica", "none",
                              ('max by (replica) (recsys_model_version{job="inference"})', "{{replica}}")))
            .with_panel(graph("loads and swaps (10 min)", "none",
                              ('sum by (replica) (increase(recsys_model_loads_total{job="inference"}[10m]))', "{{replica}}")))
            .with_panel(graph("refused versions (1 h)", "none",
                              ('sum by (reason) (increase(recsys_model_load_failures_total{job="inference"}[1h]))', "{{reason}}")))
            .with_panel(graph("answers by how the user was resolved", "reqps",
                              ('sum by (kind) (rate(recsys_recommendations_total{job="inference"}[1m]))', "{{kind}}")))
            .with_row(Row("Training"))
            .with_panel(number("last training", "s", 'trainer_last_training_duration_seconds{job="trainer"}', "duration"))
            .with_panel(number("last training succeeded", "bool", 'trainer_last_training_success{job="trainer"}'))
            .with_panel(number("since the last publish", "s", 'time() - trainer_last_publish_timestamp_seconds{job="trainer"}'))
            .with_panel(number("since the last training", "s",
                               'time() - trainer_last_training_success_timestamp_seconds{job="trainer"}'))
            .with_panel(graph("trainings by result", "none", ('sum by (result) (trainer_trainings_total{job="trainer"})', "{{result}}")))
            .with_panel(graph("publishes by result", "none", ('sum by (result) (trainer_publishes_total{job="trainer"})', "{{result}}")))
            .with_panel(graph("data of the last training", "none", ('trainer_data_count{job="trainer"}', "{{what}}"), width=24)))


def quality() -> Dashboard:
    return (dashboard("recsys-quality", "Recsys: online quality", "Hit rate per version from the stream, with the simulator's truth")
            .with_row(Row("Hit rate"))
            .with_panel(graph("hit rate per version (last hour, 95% bounds), and the simulator's truth", "percentunit",
                              ('online_hit_rate{job="evaluator",window="hour"}', "{{version}}"),
                              ('online_hit_rate_low{job="evaluator",window="hour"}', "{{version}} low"),
                              ('online_hit_rate_high{job="evaluator",window="hour"}', "{{version}} high"),
                              ('sum by (version) (rate(sim_followed_total[5m])) / sum by (version) (rate(sim_answered_total[5m]))',
                               "{{version}} truth (simulator)"),
                              description="Settled answers followed by a watch of a listed movie; the truth line only while the simulator runs",
                              width=24))
            .with_panel(graph("hit rate per version and window", "percentunit", ("version_window:online_hit_rate:max", "{{version}} {{window}}")))
            .with_panel(graph("answers per version", "reqps", ("version:online_answers:rate5m", "{{version}}")))
            .with_row(Row("How the answers were used"))
            .with_panel(graph("mean rank of the watched movie", "none", ('online_mean_rank{job="evaluator",window="hour"}', "{{version}}")))
            .with_panel(graph("minutes watched per answer", "m", ('online_minutes_per_answer{job="evaluator",window="hour"}', "{{version}}")))
            .with_panel(graph("share of watches that were recommended", "percentunit",
                              ('online_recommended_watch_share{job="evaluator",window="hour"}', "{{version}}")))
            .with_panel(graph("mean rating", "none", ('online_mean_rating{job="evaluator",window="hour"}', "{{version}}")))
            .with_row(Row("The evaluation itself"))
            .with_panel(graph("settled answers (hour)", "none", ('online_settled_answers{job="evaluator",window="hour"}', "{{version}}")))
            .with_panel(graph("consumer lag", "none", ('online_consumer_lag_messages{job="evaluator"}', "{{topic}}")))
            .with_panel(graph("late events and unattributed answers", "none",
                              ('sum(online_late_events_total{job="evaluator"}) or vector(0)', "late events"),
                              ('sum(online_unattributed_answers_total{job="evaluator"}) or vector(0)', "unattributed answers")))
            .with_panel(graph("since the last commit", "s", ('time() - online_last_commit_timestamp_seconds{job="evaluator"}', "commit"))))


def stream() -> Dashboard:
    return (dashboard("recsys-stream", "Recsys: event stream", "Ingest rate, lag, malformed lines by reason")
            .with_row(Row("Ingest"))
            .with_panel(graph("lines consumed and written", "ops", ("job:ingest_consumed:rate1m", "consumed"),
                              ('sum(rate(ingest_written_total{job="ingest"}[1m]))', "written")))
            .with_panel(graph("produce to file (lag)", "s",
                              ('histogram_quantile(0.5, sum by (le) (rate(ingest_lag_seconds_bucket{job="ingest"}[5m])))', "p50"),
                              ("job:ingest_lag_seconds:p99_5m", "p99")))
            .with_panel(graph("unread messages per partition", "none",
                              ('ingest_partition_lag_messages{job="ingest"}', "partition {{partition}}")))
            .with_panel(graph("malformed lines by reason", "ops",
                              ('sum by (reason) (rate(ingest_malformed_total{job="ingest"}[5m]))', "{{reason}}")))
            .with_panel(graph("Kafka client errors", "none", ('sum(ingest_kafka_errors_total{job="ingest"})', "errors")))
            .with_panel(graph("event directory's disk, free", "percentunit",
                              ('trainer_event_dir_free_bytes{job="trainer"} / trainer_event_dir_size_bytes{job="trainer"}', "free"))))


DASHBOARDS = {"service": service, "models": models, "quality": quality, "stream": stream}


def render(name: str) -> str:
    model = json.loads(JSONEncoder().encode(DASHBOARDS[name]().build()))
    for n, panel in enumerate(model["panels"], 1):   # unique panel ids (the SDK leaves them unset)
        panel["id"] = n
    return json.dumps(model, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    for name in DASHBOARDS:
        path = OUT / f"{name}.json"
        path.write_text(render(name))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
