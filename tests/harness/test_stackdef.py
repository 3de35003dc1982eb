"""The one description of the local stack: every launcher derives from it."""

from __future__ import annotations

import json
import re
import shlex

import pytest

from harness.paths import ROOT
from harness.stackdef import StackError, StackSettings, gunicorn_argv, programs
from harness.supervisor import Supervisor


def settings(tmp_path, **env):
    return StackSettings.from_env({"STACK_RUN_DIR": str(tmp_path / "run"), **env})


def test_programs_in_start_order_with_one_replica_per_port(tmp_path):
    s = settings(tmp_path, REPLICAS="3", WEB_CONCURRENCY="2")
    names = [p.name for p in sorted(programs(s), key=lambda p: p.priority)]
    assert names == ["redis", "broker", "trainer", "ingest", "evaluator", "inference-1", "inference-2", "inference-3",
                     "nginx", "nginx-exporter", "redis-exporter", "alertmanager", "prometheus"]
    replicas = [p for p in programs(s) if p.kind == "inference"]
    assert [p.port for p in replicas] == [8101, 8102, 8103]
    assert {p.env["WEB_CONCURRENCY"] for p in replicas} == {"2"}
    assert [p.env["INFERENCE_BIND"] for p in replicas] == [f"127.0.0.1:{port}" for port in (8101, 8102, 8103)]
    assert all(p.ready_url == f"http://127.0.0.1:{p.port}/readyz" for p in replicas)


def test_an_outside_broker_replaces_ours_and_every_program_is_pointed_at_it(tmp_path):
    ours = settings(tmp_path)
    assert next(p for p in programs(ours) if p.kind == "broker").port == 9092
    outside = settings(tmp_path, KAFKA_BOOTSTRAP_SERVERS="kafka.course:9092", KAFKA_TOPIC="movielog7")
    assert not [p for p in programs(outside) if p.kind == "broker"]
    ingest = next(p for p in programs(outside) if p.kind == "ingest")
    assert ingest.env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka.course:9092" and ingest.env["KAFKA_TOPIC"] == "movielog7"
    assert ingest.env["EVENT_DIR"] == str(outside.data_dir / "events")


def test_the_services_get_the_password_as_a_file_and_the_passthrough_settings(tmp_path):
    s = settings(tmp_path, TRAIN_EPOCHS="3", USER_API_URL="http://127.0.0.1:1", INFERENCE_BASE_PORT="9000",
                 UNRELATED="x")
    trainer = next(p for p in programs(s) if p.name == "trainer")
    assert trainer.env["REDIS_PASSWORD_FILE"] == str(s.password_file) and "REDIS_PASSWORD" not in trainer.env
    assert trainer.env["TRAIN_EPOCHS"] == "3" and trainer.env["USER_API_URL"] == "http://127.0.0.1:1"
    assert "INFERENCE_BASE_PORT" not in trainer.env and "UNRELATED" not in trainer.env


@pytest.mark.parametrize("env,message", [
    ({"PORT": "8101"}, "port 8101 is used twice"),
    ({"REPLICAS": "0"}, "REPLICAS=0 is outside 1..64"),
    ({"REDIS_PORT": "x"}, "REDIS_PORT='x' is not a number"),
    ({"DATA_PRESET": "../x"}, "DATA_PRESET"),
])
def test_bad_settings_are_one_line_errors(tmp_path, env, message):
    with pytest.raises(StackError, match=re.escape(message)):
        settings(tmp_path, **env)


def test_supervisord_runs_exactly_the_described_programs(tmp_path):
    s = settings(tmp_path, REPLICAS="2")
    text = Supervisor(s).render(programs(s))
    sections = re.findall(r"^\[program:([^\]]+)\]\ncommand=(.*)$", text, re.M)
    assert [(name, shlex.split(command.replace("%%", "%"))) for name, command in sections] == [
        (p.name, p.argv) for p in programs(s)]


def test_the_dockerfile_runs_the_same_gunicorn_command_line():
    dockerfile = (ROOT / "services" / "inference" / "Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))
    assert cmd == gunicorn_argv("/app/inference/gunicorn.conf.py", worker_tmp_dir="/dev/shm")
    local = next(p for p in programs(StackSettings()) if p.kind == "inference").argv
    assert local[1:] == gunicorn_argv(str(ROOT / "services/inference/gunicorn.conf.py"))[1:]
