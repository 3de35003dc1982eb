"""The machine a benchmark runs on (cores, versions, how busy it is) and the model it serves."""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import tempfile
import time
from importlib import metadata
from pathlib import Path

from harness.paths import VENV_BIN
from harness.stack import clean_environment
from harness.waiting import wait_until
from loadtests.bench_config import say

PACKAGES = ("gunicorn", "flask", "numpy", "redis", "locust", "geventhttpclient", "gevent", "lightfm-next", "matplotlib")


def _version_of(cmd: list[str]) -> str:
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=10)  # nosec B603  # fixed version commands
        return (result.stdout + result.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        return "unknown"


def machine_info() -> dict:
    cpu_model = "unknown"
    try:
        cpu_model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                          if line.startswith("model name")), cpu_model)
    except OSError:
        pass
    packages = {}
    for name in PACKAGES:
        try:
            packages[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    mem_total = 0
    try:
        mem_total = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1)) // 1024
    except (OSError, AttributeError):
        pass
    return {"cores": os.cpu_count(), "cpu_model": cpu_model, "memory_mb": mem_total, "python": platform.python_version(),
            "platform": platform.platform(), "nginx": _version_of(["nginx", "-v"]).replace("nginx version: ", ""),
            "redis": _version_of(["redis-server", "--version"]), "packages": packages}


def machine_load() -> dict:
    """Load average and the busiest processes right now (was the machine quiet?)."""
    top = []
    try:
        out = subprocess.run(["ps", "-eo", "pcpu,args", "--sort=-pcpu"], capture_output=True, text=True, timeout=10).stdout  # nosec B603 B607  # fixed argv; ps from PATH
        for line in out.splitlines()[1:6]:
            pcpu, _, args = line.strip().partition(" ")
            top.append({"cpu_percent": float(pcpu), "command": args.strip()[:100]})
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    return {"loadavg": [round(x, 2) for x in os.getloadavg()], "top_processes": top}


def busy_cores(seconds: float = 3.0) -> float:
    """Cores the whole machine used over the next `seconds` (from /proc/stat)."""
    def sample():
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(values[:8]) - values[3] - values[4] - (values[7] if len(values) > 7 else 0)
    ticks = os.sysconf("SC_CLK_TCK")
    before = sample()
    time.sleep(seconds)
    return (sample() - before) / ticks / seconds


def wait_quiet(max_seconds: float, threshold: float = 0.25) -> float:
    """Wait (at most `max_seconds`) until the machine used < threshold cores in two consecutive 5 s
    windows; the last figure (also when it never got quiet)."""
    seen = {"quiet_windows": 0, "used": 0.0}

    def quiet() -> bool:
        seen["used"] = used = busy_cores(5)
        seen["quiet_windows"] = seen["quiet_windows"] + 1 if used < threshold else 0
        if seen["quiet_windows"] < 2:
            say(f"waiting for a quiet machine: {used:.2f} cores busy")
        return seen["quiet_windows"] >= 2

    try:
        wait_until(quiet, max_seconds, "a quiet machine", interval=0)
    except TimeoutError:
        pass
    return seen["used"]


def ensure_model(model_dir: Path) -> Path:
    """The `default` preset trained once (about 30 s), reused across runs (trained again when the
    saved one predates provenance in the model's metadata)."""
    saved = model_dir / "model.json"
    if saved.exists() and "provenance" in json.loads(saved.read_text()):
        return model_dir
    trainer = str(VENV_BIN / "trainer")
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        say(f"no model in {model_dir}: generating the default preset and training it once (about 30 s, reused later)")
        for args in (["generate-data", "--preset", "default", "--out", f"{tmp}/data"],
                     ["train", "--data-dir", f"{tmp}/data", "--model-dir", str(model_dir)]):
            result = subprocess.run([trainer, *args], capture_output=True, text=True, timeout=1800, env=clean_environment())  # nosec B603  # the venv's trainer, fixed arguments
            if result.returncode != 0:
                raise RuntimeError(f"trainer {' '.join(args)} failed:\n{result.stderr[-2000:]}")
    return model_dir


def load_bundle(model_dir: Path):
    from trainer import artifacts

    return artifacts.load(model_dir).bundle
