"""Every served answer is recorded to a Kafka topic (a real Kafka-protocol broker here) without
ever blocking or failing the answer; records the broker cannot take are counted."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition

from common import served
from harness.ports import free_port
from harness.stack import Stack
from harness.waiting import wait_until


@pytest.fixture
def broker(tmp_path):
    stack = Stack(tmp_path / "broker", kinds=("broker",)).start()
    yield stack.settings.bootstrap
    stack.close()


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 20) -> list[dict]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "test-records", "auto.offset.reset": "earliest"})
    found: list[dict] = []
    try:
        def collect():
            metadata = consumer.list_topics(topic, timeout=2).topics.get(topic)
            if metadata is None or metadata.error is not None:
                return False
            if not consumer.assignment():
                consumer.assign([TopicPartition(topic, p, -2) for p in metadata.partitions])
            found.extend(r for m in consumer.consume(1000, timeout=0.5) if not m.error() for r in served.decode(m.value())[0])
            return len(found) >= expected
        wait_until(collect, timeout, f"{expected} records on {topic} ({len(found)} so far)", interval=0.1)
    finally:
        consumer.close()
    return found


def test_each_answer_is_recorded_with_its_request_version_resolution_and_list(make_app, store, bundle, broker, metric):
    app = make_app(kafka_bootstrap=broker, served_topic="test-served")
    version = store.publish(bundle.to_arrays())
    client = app.test_client()
    wait_until(lambda: client.get("/readyz").status_code == 200, 20, "the model loaded")
    queued = metric("recsys_served_records_total", outcome="queued")
    answers = {}
    for user, request_id in ((1, "sim-1"), (10_000_000, "sim-2")):   # known; nobody knows this one
        response = client.get(f"/recommend/{user}", headers={"X-Request-ID": request_id})
        answers[request_id] = response.get_data(as_text=True).split(",")
    records = {r["request_id"]: r for r in read_topic(broker, "test-served", 2)}
    assert records["sim-1"]["user_id"] == 1 and records["sim-1"]["resolved"] == "known"
    assert records["sim-2"]["resolved"] == "popularity"
    for request_id, movies in answers.items():
        assert records[request_id]["movies"] == movies and records[request_id]["version"] == version
        assert abs(records[request_id]["time"] - time.time()) < 60 and records[request_id]["replica"] == "test-replica"
    wait_until(lambda: metric("recsys_served_records_total", outcome="queued") - queued == 2, 5, "both records handed over")
    wait_until(lambda: metric("recsys_served_records_total", outcome="delivered") >= 2, 10, "delivery reports")


def test_no_broker_never_slows_or_fails_an_answer_and_the_lost_records_are_counted(make_app, store, bundle, metric):
    app = make_app(kafka_bootstrap=f"127.0.0.1:{free_port()}", served_topic="test-served", served_timeout=1.0)
    store.publish(bundle.to_arrays())
    client = app.test_client()
    wait_until(lambda: client.get("/readyz").status_code == 200, 20, "the model loaded")
    lost = metric("recsys_served_records_total", outcome="lost")
    slowest = 0.0
    for user in range(1, 201):
        started = time.perf_counter()
        assert client.get(f"/recommend/{user}").status_code == 200
        slowest = max(slowest, time.perf_counter() - started)
    assert slowest < 0.1, f"slowest answer {slowest * 1000:.0f} ms"
    wait_until(lambda: metric("recsys_served_records_total", outcome="lost") - lost >= 200, 15,
               "the undeliverable records counted as lost")
