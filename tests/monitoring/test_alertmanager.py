"""Alertmanager (Debian's prometheus-alertmanager, as `make up` runs it, from the stack
description) with the repository's configuration delivers an alert to the webhook ALERT_WEBHOOK_URL
names (a real local HTTP receiver), and its resolution."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from harness.stack import Stack
from harness.waiting import wait_until
from harness.webhook import WebhookReceiver


def post_alert(port: int, name: str, ends: datetime | None = None) -> None:
    now = datetime.now(timezone.utc)
    alert = {"labels": {"alertname": name, "severity": "page", "instance": "test"},
             "annotations": {"summary": "from the test"}, "startsAt": (now - timedelta(seconds=5)).isoformat()}
    if ends:
        alert["endsAt"] = ends.isoformat()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", data=json.dumps([alert]).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=5) as response:
        assert response.status == 200


@pytest.fixture
def receiver():
    with WebhookReceiver() as r:
        yield r


@pytest.fixture
def alertmanager(tmp_path, receiver):
    stack = Stack(tmp_path / "stack", kinds=("alertmanager",))
    stack.settings = stack.settings.with_(alert_webhook_url=receiver.url)
    try:
        yield stack.start()
    finally:
        stack.close()


def test_an_alert_reaches_the_webhook_then_its_resolution(alertmanager, receiver):
    port = alertmanager.settings.alertmanager_port
    started = time.monotonic()
    post_alert(port, "TestAlertDelivered")
    firing = wait_until(lambda: receiver.alerts("TestAlertDelivered", "firing"), 15, "the firing alert at the webhook",
                        interval=0.1)
    delivered = time.monotonic() - started
    assert firing[0]["labels"]["severity"] == "page" and firing[0]["annotations"]["summary"] == "from the test"
    post_alert(port, "TestAlertDelivered", ends=datetime.now(timezone.utc))
    wait_until(lambda: receiver.alerts("TestAlertDelivered", "resolved"), 25, "the resolved alert at the webhook",
               interval=0.2)
    print(f"firing delivered after {delivered:.1f} s, resolved after {time.monotonic() - started:.1f} s")
    assert delivered < 10   # group_wait 2 s
