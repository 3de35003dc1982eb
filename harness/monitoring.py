"""The monitoring of the local stack: the files Prometheus, Alertmanager and the Redis exporter need
in the run directory (`<run dir>/monitoring/`), rendered from the templates in monitoring/.

- `prometheus.yml` from monitoring/prometheus/prometheus.local.yml: scrape and evaluation interval
  (SCRAPE_INTERVAL), the rule files (monitoring/prometheus/rules, or PROMETHEUS_RULES_DIR), and
  file-based discovery: one `targets/<job>.json` per job, rewritten on every `make up`, so that
  `REPLICAS=N make up` changes the replicas Prometheus scrapes without an edit or a restart.
- `alertmanager.yml` from monitoring/alertmanager/alertmanager.yml: the webhook ALERT_WEBHOOK_URL
  (unset: the lines between the `webhook-begin` / `webhook-end` markers are dropped, and alerts
  stay visible in Alertmanager only). compose/ renders the same template with sed.
- `redis-exporter-passwords.json` (0600): the exporter's password in the form redis_exporter reads
  (`{"redis://host:port": password}`), for the INFO-only user `exporter` of redis/users.acl.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from harness.files import write_private
from harness.paths import ROOT

if TYPE_CHECKING:
    from harness.stackdef import StackSettings

MONITORING = ROOT / "monitoring"
PROMETHEUS_TEMPLATE = MONITORING / "prometheus" / "prometheus.local.yml"
RULES_DIR = MONITORING / "prometheus" / "rules"
ALERTMANAGER_TEMPLATE = MONITORING / "alertmanager" / "alertmanager.yml"
WEBHOOK_BEGIN, WEBHOOK_END = "# webhook-begin", "# webhook-end"


class MonitoringError(RuntimeError):
    """A monitoring program or file cannot be used; one line for the operator."""


def binary(*names: str) -> str:
    """The first of `names` on PATH (or in /usr/bin, /usr/sbin): Debian's names first, upstream's after."""
    for name in names:
        found = shutil.which(name) or next((p for p in (f"/usr/bin/{name}", f"/usr/sbin/{name}") if os.access(p, os.X_OK)), None)
        if found:
            return found
    raise MonitoringError(f"{names[0]} not installed: run `make install` (scripts/install-system-deps.sh)")


def prometheus_config(s: "StackSettings") -> Path:
    return s.monitoring_dir / "prometheus.yml"


def alertmanager_config(s: "StackSettings") -> Path:
    return s.monitoring_dir / "alertmanager.yml"


def redis_exporter_passwords(s: "StackSettings") -> Path:
    return s.monitoring_dir / "redis-exporter-passwords.json"


def exporter_password_file(s: "StackSettings") -> Path:
    return s.run_dir / "redis-exporter.password"


def targets_dir(s: "StackSettings") -> Path:
    return s.monitoring_dir / "targets"


def rules_dir(s: "StackSettings") -> Path:
    return Path(s.rules_dir).resolve() if s.rules_dir else RULES_DIR


def targets(s: "StackSettings") -> dict[str, list[dict]]:
    """Every job's targets, in Prometheus's file_sd format."""
    def one(port: int, **labels: str) -> dict:
        return {"targets": [f"127.0.0.1:{port}"], "labels": labels}

    return {
        "inference": [one(port, replica=f"inference-{n}") for n, port in enumerate(s.replica_ports, 1)],
        "nginx": [one(s.nginx_exporter_port)],
        "redis": [one(s.redis_exporter_port)],
        "ingest": [one(s.ingest_metrics_port)],
        "trainer": [one(s.trainer_metrics_port)],
        "evaluator": [one(s.online_metrics_port)],
        "simulator": [one(s.sim_api_port)],
        "prometheus": [one(s.prometheus_port)],
        "alertmanager": [one(s.alertmanager_port)],
    }


def render_prometheus(s: "StackSettings") -> str:
    interval = f"{s.scrape_interval}s"
    values = {"@SCRAPE_INTERVAL@": interval, "@SCRAPE_TIMEOUT@": f"{min(s.scrape_interval, 10)}s",
              "@TARGETS_DIR@": str(targets_dir(s)), "@RULES_DIR@": str(rules_dir(s))}
    text = PROMETHEUS_TEMPLATE.read_text()
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def render_alertmanager(webhook_url: str, template: Path = ALERTMANAGER_TEMPLATE) -> str:
    """The template with its webhook URL, or without the webhook when there is none."""
    out, inside = [], False
    for line in template.read_text().splitlines():
        marker = line.strip()
        if marker in (WEBHOOK_BEGIN, WEBHOOK_END):
            inside = marker == WEBHOOK_BEGIN
            continue
        if inside and not webhook_url:
            continue
        out.append(line.replace("@ALERT_WEBHOOK_URL@", webhook_url))
    return "\n".join(out) + "\n"


def write(s: "StackSettings", exporter_password: str) -> bool:
    """Write every monitoring file of the run directory; True when any changed."""
    if not rules_dir(s).is_dir():
        raise MonitoringError(f"PROMETHEUS_RULES_DIR={rules_dir(s)} is not a directory")
    for d in (s.monitoring_dir, targets_dir(s)):
        d.mkdir(parents=True, exist_ok=True)
    changed = [write_private(prometheus_config(s), render_prometheus(s)),
               write_private(alertmanager_config(s), render_alertmanager(s.alert_webhook_url)),
               write_private(redis_exporter_passwords(s), json.dumps({f"redis://127.0.0.1:{s.redis_port}": exporter_password}) + "\n")]
    for job, entries in targets(s).items():
        # Prometheus reads these itself (no reload); the file is replaced whole.
        path = targets_dir(s) / f"{job}.json"
        text = json.dumps(entries, indent=1) + "\n"
        if not path.exists() or path.read_text() != text:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(text)
            tmp.replace(path)
    return any(changed)


def fast_rules(dest: Path, for_seconds: int = 2, window: str = "10s") -> Path:
    """A copy of the rule files for live tests and demos on a 1 s scrape interval: every `for:`
    shortened to `for_seconds` and every range window to `window` (the thresholds unchanged)."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(RULES_DIR.glob("*.yml")):
        text = re.sub(r"^(\s*)for: \S+$", rf"\g<1>for: {for_seconds}s", path.read_text(), flags=re.M)
        (dest / path.name).write_text(re.sub(r"\[\d+[smh]\]", f"[{window}]", text))
    return dest
