"""The source: it follows the pointer on a real Redis and reports versions to a callback, nothing else."""

from __future__ import annotations

import logging
import time

import pytest
import redis

from harness.redis_server import RedisServer
from harness.waiting import wait_until
from inference.watcher import Watcher


class Reports:
    """A callback that records what it was told; `errors` are raised (once each) instead."""

    def __init__(self, *errors: Exception):
        self.versions: list[str] = []
        self.errors = list(errors)

    def __call__(self, version: str) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.versions.append(version)

    def last(self) -> str | None:
        return self.versions[-1] if self.versions else None


@pytest.fixture
def watch():
    watchers = []

    def start(settings, aspire, poll_interval=0.2, **kwargs) -> Watcher:
        watcher = Watcher(settings, aspire, poll_interval, **kwargs)
        watchers.append(watcher)
        watcher.start()
        return watcher

    yield start
    for watcher in watchers:
        watcher.stop()
        assert not watcher.is_alive()


def point(client, prefix, version, notify=True):
    """Move the pointer as the admin, with or without the notification a publish sends."""
    client.set(f"{prefix}:current", version)
    if notify:
        client.publish(f"{prefix}:events", version)


def test_nothing_is_reported_before_anything_is_published(watch, settings):
    reports = Reports()
    watch(settings, reports)
    time.sleep(0.5)
    assert reports.versions == []


def test_a_notification_is_reported_at_once_without_waiting_for_the_poll(watch, settings, redis_client):
    point(redis_client, settings.prefix, "v1-aaaaaa")
    reports = Reports()
    watch(settings, reports, poll_interval=30.0)
    wait_until(lambda: reports.last() == "v1-aaaaaa", 5.0, "the first report")
    time.sleep(0.2)  # subscribed by now
    started = time.monotonic()
    point(redis_client, settings.prefix, "v2-bbbbbb")
    wait_until(lambda: reports.last() == "v2-bbbbbb", 2.0, "the report of the notified version")
    assert time.monotonic() - started < 1.0


def test_a_missed_notification_is_caught_by_polling_and_every_look_reports(watch, settings, redis_client):
    reports = Reports()
    watch(settings, reports, poll_interval=0.2)
    point(redis_client, settings.prefix, "v1-aaaaaa", notify=False)  # as if pub/sub had been down
    wait_until(lambda: reports.last() == "v1-aaaaaa", 2.0, "the polled version")
    seen = len(reports.versions)
    wait_until(lambda: len(reports.versions) >= seen + 3, 3.0, "three more looks at the pointer")
    assert set(reports.versions) == {"v1-aaaaaa"}  # the same version again: the manager decides it is nothing new


def test_an_outage_is_one_log_line_and_watching_resumes(watch, tmp_path, caplog):
    server = RedisServer(tmp_path / "own-redis").start()
    settings = server.settings(prefix="test-outage")
    admin = server.client()
    caplog.set_level(logging.INFO, logger="inference.watcher")
    try:
        point(admin, settings.prefix, "v1-aaaaaa")
        reports = Reports()
        watch(settings, reports, poll_interval=0.2, max_backoff=0.4)
        wait_until(lambda: reports.last() == "v1-aaaaaa", 5.0, "the first report")
        server.stop()
        time.sleep(2.0)  # several reconnection attempts
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and "unreachable" in warnings[0].getMessage()
        server.start()  # same port, empty
        admin = server.client()
        point(admin, settings.prefix, "v1-cccccc")
        wait_until(lambda: reports.last() == "v1-cccccc", 5.0, "the report after Redis came back")
        assert any("Redis is back" in r.getMessage() for r in caplog.records)
        assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    finally:
        admin.close()
        server.stop()


def test_redis_failing_during_a_report_pauses_and_a_bug_does_not_stop_the_source(watch, settings, redis_client, caplog):
    point(redis_client, settings.prefix, "v1-aaaaaa")
    caplog.set_level(logging.INFO, logger="inference.watcher")
    reports = Reports(redis.ConnectionError("Connection reset by peer"), KeyError("a bug in the manager"))
    watcher = watch(settings, reports, poll_interval=0.2)
    wait_until(lambda: reports.last() == "v1-aaaaaa", 5.0, "a report after both failures")
    assert watcher.is_alive()
    messages = [r.getMessage() for r in caplog.records]
    assert any("paused" in m for m in messages) and any("Redis is back" in m for m in messages)
    assert any("unexpected error" in m for m in messages)
