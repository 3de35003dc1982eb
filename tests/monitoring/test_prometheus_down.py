"""Prometheus killed changes nothing for the service (issue #13 acceptance), on the stack `make up`
runs (harness.stack.SupervisedStack: supervisord, the trainer service, two replicas, nginx and the
monitoring programs, in a run dir of its own on free ports).

Under a request loop through nginx (two clients, 800 ms timeout): Prometheus is killed with
SIGKILL and kept down (`supervisorctl stop`, as if its restarts kept failing, so that the status
is read without supervisord's restart racing it); `python -m harness.localstack status` (`make
status`) shows it not running and its readiness check failing; started again, it is ready and
scrapes. The loop has 0 failed requests throughout.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from harness.loop import RequestLoop
from harness.promapi import Prometheus
from harness.stack import SupervisedStack
from harness.waiting import wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = SupervisedStack(tmp_path_factory.mktemp("supervised"), replicas=2)
    try:
        yield stack.up()
    finally:
        stack.down()


def prometheus_lines(status_output: str) -> list[str]:
    return [line for line in status_output.splitlines() if line.strip().startswith("prometheus")]


def test_prometheus_killed_under_load(stack):
    prometheus = Prometheus(stack.settings.prometheus_port)
    wait_until(lambda: any(prometheus.targets_up("inference")), 30, "Prometheus scraping a replica", interval=0.5)
    with RequestLoop(stack.url, list(range(1, 60)), clients=2, timeout=0.8) as loop:
        loop.wait_for(50)
        started = time.monotonic()
        os.kill(stack.pid("prometheus"), signal.SIGKILL)
        stack.ctl("stop", "prometheus")
        loop.wait_for(100)
        status = stack.localstack("status")
        assert status.returncode == 0, status.stderr
        lines = prometheus_lines(status.stdout)
        print("\n".join(lines))
        assert lines and "RUNNING" not in lines[0], status.stdout
        assert any("/-/ready -> " in line and "-> 200" not in line for line in lines), status.stdout
        loop.wait_for(100)
        down = time.monotonic() - started
        stack.ctl("start", "prometheus")
        wait_until(lambda: any(prometheus.targets_up("inference")), 30, "Prometheus ready and scraping again", interval=0.5)
        loop.wait_for(50)
    print(f"Prometheus down for {down:.1f} s: {loop.summary()}")
    loop.check(min_requests=300)
    assert "RUNNING" in prometheus_lines(stack.localstack("status").stdout)[0]
