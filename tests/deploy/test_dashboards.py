"""The Grafana dashboards: generated, provisioned, and querying only exported metrics."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from deploy import dashboards
from deploy.metrics import exported_series, promql_metric_names
from tests.deploy.tools import DEPLOY

GRAFANA = DEPLOY / "grafana"


def dashboard_files() -> list[Path]:
    return sorted((GRAFANA / "dashboards").glob("*.json"))


def test_the_dashboard_files_are_the_generated_ones() -> None:
    wanted = dashboards.files()
    assert sorted(wanted) == dashboard_files(), "run `python -m deploy.dashboards`"
    for path, text in wanted.items():
        assert path.read_text() == text, f"{path.name} is stale: run `python -m deploy.dashboards`"


def test_every_panel_query_names_only_metrics_the_services_export() -> None:
    known = exported_series()
    unknown: dict[str, set[str]] = {}
    queries = 0
    for path in dashboard_files():
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                queries += 1
                if missing := promql_metric_names(target["expr"]) - known:
                    unknown[f"{path.name}: {panel['title']}"] = missing
    assert queries > 20
    assert unknown == {}


def test_the_dashboards_cover_what_operators_watch() -> None:
    exprs = " ".join(
        target["expr"]
        for path in dashboard_files()
        for panel in json.loads(path.read_text())["panels"]
        for target in panel.get("targets", [])
    )
    for metric in (
        "http_requests_total",  # RED per service
        "http_request_duration_seconds_bucket",
        "kafka_consumer_group_lag",  # lag per group
        "kafka_consumer_group_lag_seconds",
        "ingest_events_deadlettered_total",  # dead letters
        "executor_executions_deadlettered_total",
        'status=~"throttled|exited"',  # throttled and exited runs
        "executor_action_duration_seconds_bucket",  # action latency and errors by type
        'outcome="failed"',
        "scheduler_cron_lateness_seconds_bucket",  # scheduler lateness
    ):
        assert metric in exprs, metric


def test_panels_use_the_provisioned_datasource_and_the_provider_reads_the_mounted_folder() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    uids = {source["uid"] for source in datasources}
    for path in dashboard_files():
        for panel in json.loads(path.read_text())["panels"]:
            if panel["type"] != "row":
                assert panel["datasource"]["uid"] in uids, (path.name, panel["title"])
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "workflow.yml").read_text()
    )["providers"]
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    mounts = {
        volume.split(":")[1]: volume.split(":")[0]
        for volume in compose["services"]["grafana"]["volumes"]
    }
    for provider in providers:
        assert mounts[provider["options"]["path"]] == "./grafana/dashboards"
    assert mounts["/etc/grafana/provisioning"] == "./grafana/provisioning"


def test_panel_positions_do_not_overlap() -> None:
    for path in dashboard_files():
        cells: set[tuple[int, int]] = set()
        for panel in json.loads(path.read_text())["panels"]:
            grid = panel["gridPos"]
            area = {
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            }
            assert not cells & area, (path.name, panel["title"])
            assert grid["x"] + grid["w"] <= 24
            cells |= area
