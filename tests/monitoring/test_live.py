"""The monitoring against a running stack under simulator load (harness/monitored.py: real
processes from the stack description, Prometheus scraping every second, a real webhook receiver):

- every panel of every dashboard in monitoring/grafana/dashboards returns data from Prometheus;
- faults injected into the stack fire their alert in Prometheus's /api/v1/alerts and at the
  webhook within its `for:` plus two scrape intervals (plus one evaluation, and Alertmanager's
  group_wait for the webhook), and resolve after the fault ends: a replica stopped, every replica
  stopped, Redis and the ingester stopped. `make alerts-demo` (loadtests/alert_faults.py) runs
  these and a fault for every other alert but CanaryRolledBack (issue #15), with the figures.

Prometheus evaluates a copy of the production rules with `for: 2s` and 10 s range windows
(harness/monitoring.py fast_rules): the production files keep their `for:`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from harness import monitored
from harness.monitored import Faults, MonitoredStack

pytestmark = pytest.mark.slow
DASHBOARDS = Path(__file__).resolve().parents[2] / "monitoring" / "grafana" / "dashboards"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with MonitoredStack(tmp_path_factory.mktemp("monitored")) as m:
        print(f"stack with a model in {m.ready_seconds:.1f} s")
        yield m


@pytest.fixture(scope="module")
def faults(stack):
    f = Faults(stack)
    yield f
    print(f.report())


def panel_queries() -> list[tuple[str, str, str]]:
    return [(path.stem, panel["title"], target["expr"]) for path in sorted(DASHBOARDS.glob("*.json"))
            for panel in json.loads(path.read_text())["panels"] for target in panel.get("targets", [])]


def test_every_dashboard_panel_returns_data(stack):
    queries = panel_queries()
    assert len(queries) > 40
    started, empty = time.monotonic(), queries
    while empty and time.monotonic() - started < 120:
        empty = [q for q in empty if not stack.prometheus.query(q[2])]
        if empty:
            time.sleep(1)
    assert not empty, f"{len(empty)} of {len(queries)} panel queries return no data: {empty}"
    print(f"{len(queries)} panel queries of {len(list(DASHBOARDS.glob('*.json')))} dashboards all return data "
          f"after {time.monotonic() - started:.1f} s")


def test_a_stopped_replica_then_every_replica(faults):
    monitored.replica_down(faults)
    monitored.no_replica(faults)


def test_redis_stopped(faults):
    monitored.redis_down(faults)


def test_the_ingester_stopped(faults):
    monitored.ingest_down(faults)
