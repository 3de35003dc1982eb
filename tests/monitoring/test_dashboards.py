"""The committed dashboards (monitoring/grafana/dashboards/*.json) are exactly what
monitoring/grafana/build_dashboards.py builds with the Grafana Foundation SDK (`make dashboards`),
and the provisioning files name the datasource uid the panels use. That every panel's query
returns data from a live Prometheus: tests/monitoring/test_live.py."""

from __future__ import annotations

import importlib.util
import json

import yaml

from harness.paths import ROOT

GRAFANA = ROOT / "monitoring" / "grafana"


def builder():
    spec = importlib.util.spec_from_file_location("build_dashboards", GRAFANA / "build_dashboards.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_json_is_what_the_builder_makes():
    build = builder()
    committed = sorted(p.stem for p in (GRAFANA / "dashboards").glob("*.json"))
    assert committed == sorted(build.DASHBOARDS)
    for name in build.DASHBOARDS:
        assert (GRAFANA / "dashboards" / f"{name}.json").read_text() == build.render(name), \
            f"{name}.json differs from the builder: run `make dashboards`"


def test_dashboards_have_unique_uids_and_panel_ids_and_use_the_provisioned_datasource():
    datasource = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    uids = set()
    for path in (GRAFANA / "dashboards").glob("*.json"):
        model = json.loads(path.read_text())
        uids.add(model["uid"])
        ids = [p["id"] for p in model["panels"]]
        assert len(ids) == len(set(ids)), path.name
        for panel in model["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"]["uid"] == datasource["uid"] and target["expr"].strip(), (path.name, panel["title"])
    assert len(uids) == 4
