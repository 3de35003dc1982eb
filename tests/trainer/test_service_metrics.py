"""The trainer service's metrics (trainer/service_metrics.py) as Prometheus scrapes them over HTTP."""

from __future__ import annotations

import time

import pytest

from harness.ports import free_port
from harness.waiting import http_get
from trainer.service_metrics import MetricsSettingError, TrainerMetrics


def scrape(port: int) -> dict[str, float]:
    status, body, _ = http_get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines()
            if line and not line.startswith("#")}


def test_training_publishing_and_the_disk_are_reported(tmp_path):
    port = free_port()
    metrics = TrainerMetrics.from_env({"TRAINER_MODEL_MAX_AGE": "600"})
    assert metrics.serve({"TRAINER_METRICS_PORT": str(port)}) == port
    metrics.watch_disk(tmp_path / "events" / "not-yet")
    before = scrape(port)
    assert before["trainer_last_training_success_timestamp_seconds"] == 0 == before["trainer_last_publish_timestamp_seconds"]
    assert before['trainer_trainings_total{result="failed"}'] == 0 and before["trainer_model_max_age_seconds"] == 600
    assert 0 < before["trainer_event_dir_free_bytes"] <= before["trainer_event_dir_size_bytes"]

    metrics.trained({"created_at": 1000.0, "stats": {"users": 60, "items": 40, "interactions": 900, "positives": 800,
                                                     "seconds": {"total": 12.5}}}, reused=False)
    metrics.training_failed(3.0)
    metrics.trained({"created_at": 2000.0, "stats": {"users": 61, "seconds": {"total": 4.0}}}, reused=True)
    metrics.newest_publish([1500.0, 1700.0])
    metrics.publish_refused(rejected=True)
    after = scrape(port)
    assert after['trainer_trainings_total{result="trained"}'] == 1 == after['trainer_trainings_total{result="reused"}']
    assert after['trainer_trainings_total{result="failed"}'] == 1 and after["trainer_last_training_success"] == 1
    assert after["trainer_last_training_duration_seconds"] == 4.0
    assert after["trainer_last_training_success_timestamp_seconds"] == 2000.0
    assert after['trainer_data_count{what="users"}'] == 61 and after['trainer_data_count{what="positives"}'] == 800
    assert after["trainer_last_publish_timestamp_seconds"] == 1700.0
    assert after['trainer_publishes_total{result="rejected"}'] == 1
    metrics.published(None)
    assert scrape(port)["trainer_last_publish_timestamp_seconds"] >= time.time() - 5


@pytest.mark.parametrize("env,message", [({"TRAINER_METRICS_PORT": "x"}, "TRAINER_METRICS_PORT='x' is not a number"),
                                         ({"TRAINER_METRICS_PORT": "70000"}, "TRAINER_METRICS_PORT=70000 is outside 0..65535")])
def test_bad_settings_are_one_line_errors(env, message):
    with pytest.raises(MetricsSettingError, match=message):
        TrainerMetrics().serve(env)
    with pytest.raises(MetricsSettingError, match="TRAINER_MODEL_MAX_AGE='soon'"):
        TrainerMetrics.from_env({"TRAINER_MODEL_MAX_AGE": "soon"})
