"""Overload at 3x the measured capacity for 30 s through nginx (issue #6 §1), counts printed.

The stack (redis, two gunicorn replicas of one worker, nginx) runs pinned to core 0 and the load
generator (loadtests/overload.py, an asyncio open-loop client) to core 1, so that the generator
can offer three times what the stack serves. The generator measures the capacity itself (closed
loop), then offers C/2 for 3 s, 3C for 30 s, C/4 for 8 s. nginx's in-flight limit sheds the
excess with fast 503s; the per-client rate limit is lifted here (one client plays the simulator).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from common.weightcache import WeightStore
from harness.nginx import traffic_limits
from harness.bundles import make_bundle
from harness.paths import ROOT
from harness.processes import process_tree
from harness.stack import Stack

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pinned_stack(tmp_path_factory):
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) < 2:
        pytest.skip("needs two cores: one for the stack, one for the load generator that overloads it")
    stack = Stack(tmp_path_factory.mktemp("overload"), replicas=2, workers=1,
                  limits=traffic_limits({}, replicas=2, client_rate=1_000_000, client_burst=1_000_000))
    os.sched_setaffinity(0, {cores[0]})  # inherited by every process the stack starts
    try:
        stack.start()
    finally:
        os.sched_setaffinity(0, cores)
    try:
        version = WeightStore(stack.admin(), prefix="recsys").publish(
            make_bundle(n_items=2000, n_known=6000).to_arrays())
        stack.wait_ready(version, timeout=60)
        yield stack, cores[1]
    finally:
        stack.close()


def test_three_times_capacity_for_30_s_is_shed_fast_and_recovers(pinned_stack, tmp_path):
    stack, generator_core = pinned_stack
    processes = {"nginx": process_tree(stack.nginx.pid), **{r.name: process_tree(r.proc.pid) for r in stack.replicas}}
    result_path = tmp_path / "overload.json"
    run = subprocess.run([sys.executable, "-m", "loadtests.overload", "--url", stack.url, "--factor", "3",
                          "--duration", "30", "--cpus", str(generator_core), "--json", str(result_path)],
                         capture_output=True, text=True, timeout=240, cwd=ROOT)
    print(run.stdout)
    assert result_path.exists(), f"overload.py failed ({run.returncode}):\n{run.stdout}\n{run.stderr[-3000:]}"
    result = json.loads(result_path.read_text())
    after = {"nginx": process_tree(stack.nginx.pid), **{r.name: process_tree(r.proc.pid) for r in stack.replicas}}
    print(f"processes before {processes}, after {after}")
    assert after == processes, "a process died or was replaced under overload"
    assert result["phases"]["overload"]["shed"] > 0, "nothing was shed: the stack was not overloaded"
    failed = [name for name, ok in result["checks"].items() if not ok]
    assert not failed, failed
    assert run.returncode == 0
