"""The rule and configuration files of monitoring/, checked by the real promtool and amtool
(Debian's, 2.42 / 0.25; and promtool 3.5 of the compose image when podman has it): `promtool check
rules`, `promtool test rules` (every alert firing on its fault and silent without it), `promtool
check config` on the local stack's rendered configuration and on the compose one, `amtool
check-config` on Alertmanager's."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import monitoring
from harness.paths import ROOT
from harness.stackdef import StackSettings
from harness.stackfiles import write_all

PROM = ROOT / "monitoring" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.test.yml"))
COMPOSE_IMAGE = "prom/prometheus:v3.5.3"


def run(*argv: str, cwd: Path = PROM) -> str:
    result = subprocess.run(list(argv), capture_output=True, text=True, timeout=120, cwd=cwd)
    assert result.returncode == 0, f"{' '.join(argv)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def alerts() -> dict[str, dict]:
    return {rule["alert"]: rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule}


def test_promtool_checks_every_rule_file():
    out = run(monitoring.binary("promtool"), "check", "rules", *map(str, RULE_FILES))
    assert out.count("SUCCESS") == len(RULE_FILES) and len(RULE_FILES) >= 5


def test_promtool_unit_tests_pass():
    out = run(monitoring.binary("promtool"), "test", "rules", *(p.name for p in TEST_FILES), cwd=PROM / "tests")
    assert out.count("SUCCESS") == len(TEST_FILES)


def test_a_broken_expectation_fails_promtool(tmp_path):
    """The unit tests can fail: the same test with the fault's alert expected where it is silent."""
    test = yaml.safe_load((PROM / "tests" / "serving.test.yml").read_text())
    test["rule_files"] = [str(PROM / "rules" / Path(f).name) for f in test["rule_files"]]
    test["tests"][1]["alert_rule_test"][0]["exp_alerts"] = [{"exp_labels": {"severity": "page"}}]
    (tmp_path / "broken.test.yml").write_text(yaml.safe_dump(test))
    result = subprocess.run([monitoring.binary("promtool"), "test", "rules", "broken.test.yml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_every_alert_has_a_runbook_a_severity_and_tests_firing_and_silent():
    expected = {"RecommendErrorShareHigh", "RecommendLatencyP99High", "InferenceReplicaDown",
                "InferenceReplicaWithoutModel", "InferenceNoReplicaAvailable", "ModelStale", "IngestLagHigh",
                "IngestConsumerDown", "IngestConsumerStalled", "OnlineHitRateDrop", "CanaryRolledBack", "RedisDown",
                "EventDiskNearlyFull"}
    rules = alerts()
    assert expected <= set(rules)
    firing, silent = set(), set()
    for path in TEST_FILES:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (firing if check.get("exp_alerts") else silent).add(check["alertname"])
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("page", "warning"), name
        assert rule["annotations"].get("runbook") and rule["annotations"].get("summary"), name
        assert name in firing, f"{name}: no unit test where it fires"
        assert name in silent, f"{name}: no unit test where it stays silent"


def test_promtool_checks_the_local_and_the_compose_configuration(tmp_path):
    s = StackSettings.from_env({"STACK_RUN_DIR": str(tmp_path / "run"), "REPLICAS": "3"})
    write_all(s)
    out = run(monitoring.binary("promtool"), "check", "config", str(monitoring.prometheus_config(s)))
    assert "SUCCESS" in out and f"{len(RULE_FILES)} rule files found" in out
    inference = (monitoring.targets_dir(s) / "inference.json").read_text()
    assert all(f'"127.0.0.1:{port}"' in inference for port in s.replica_ports)
    run(monitoring.binary("promtool"), "check", "config", str(PROM / "prometheus.compose.yml"))


@pytest.mark.parametrize("url", ["", "http://127.0.0.1:9/alerts"])
def test_amtool_checks_the_alertmanager_configuration(tmp_path, url):
    path = tmp_path / "alertmanager.yml"
    path.write_text(monitoring.render_alertmanager(url))
    run(monitoring.binary("amtool"), "check-config", str(path))
    assert ("webhook_configs" in path.read_text()) == bool(url)


def test_the_compose_image_promtool_accepts_the_same_files():
    """Prometheus 3.5 (the compose image) through podman, when this machine has it."""
    podman = shutil.which("podman")
    if not podman or subprocess.run([podman, "image", "exists", COMPOSE_IMAGE], timeout=30).returncode != 0:
        pytest.skip(f"no podman image {COMPOSE_IMAGE} here (../shared/container-rig sets it up)")
    base = [podman, "run", "--rm", "--network", "none", "-v", f"{PROM}:/m:ro", "--workdir", "/m",
            "--entrypoint", "/bin/promtool", COMPOSE_IMAGE]
    run(*base, "check", "rules", *(f"rules/{p.name}" for p in RULE_FILES))
    run(*base, "check", "config", "prometheus.compose.yml")
    out = run(*base, "test", "rules", *(f"tests/{p.name}" for p in TEST_FILES))
    assert out.count("SUCCESS") == len(TEST_FILES)
