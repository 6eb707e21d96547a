"""Write the Grafana dashboards (``deploy/grafana/dashboards/*.json``): ``python -m deploy.dashboards``.

The dashboards are data generated here, so that every panel has the same shape, the datasource
is named once, and a test can check that every query names only metrics the services export
(``deploy.metrics``). ``--check`` exits 1 when a file is out of date.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DIRECTORY = Path(__file__).resolve().parent / "grafana" / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
"""The datasource provisioned by ``deploy/grafana/provisioning/datasources``."""
RATE = "[$__rate_interval]"
SERVICES_JOBS = 'job=~"config-api|ingest|matcher|executor|scheduler"'


@dataclass(frozen=True)
class Panel:
    title: str
    queries: list[tuple[str, str]]
    """``(expression, legend)`` pairs."""
    unit: str = "short"
    description: str = ""
    width: int = 12


@dataclass(frozen=True)
class Row:
    title: str
    panels: list[Panel] = field(default_factory=list)


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    rows: list[Row]


def quantile(q: float, metric: str, by: str = "") -> str:
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{RATE})))"


def rate(metric: str, by: str, selector: str = "") -> str:
    return (
        f"sum by ({by}) (rate({metric}{{{selector}}}{RATE}))"
        if selector
        else (f"sum by ({by}) (rate({metric}{RATE}))")
    )


DASHBOARDS = [
    Dashboard(
        uid="workflow-services",
        title="Workflow services (RED)",
        description="Rate, errors and duration of every service's HTTP requests and handlers.",
        rows=[
            Row(
                "Health",
                [
                    Panel("Targets up", [(f"up{{{SERVICES_JOBS}}}", "{{job}} {{instance}}")]),
                    Panel(
                        "Ready (what /readyz says at each scrape)",
                        [("service_ready", "{{job}} {{instance}}")],
                    ),
                ],
            ),
            Row(
                "HTTP",
                [
                    Panel(
                        "Requests per second",
                        [(rate("http_requests_total", "job, route"), "{{job}} {{route}}")],
                        unit="reqps",
                    ),
                    Panel(
                        "Errors per second (5xx)",
                        [(rate("http_requests_total", "job", 'status=~"5.."'), "{{job}}")],
                        unit="reqps",
                    ),
                    Panel(
                        "Refusals per second (4xx)",
                        [
                            (
                                rate("http_requests_total", "job, status", 'status=~"4.."'),
                                "{{job}} {{status}}",
                            )
                        ],
                        unit="reqps",
                    ),
                    Panel(
                        "Latency p95",
                        [(quantile(0.95, "http_request_duration_seconds", "job"), "{{job}}")],
                        unit="s",
                    ),
                ],
            ),
            Row(
                "Handlers",
                [
                    Panel(
                        "Calls per second by outcome",
                        [
                            (
                                rate("handler_calls_total", "handler, outcome"),
                                "{{handler}} {{outcome}}",
                            )
                        ],
                        unit="ops",
                    ),
                    Panel(
                        "Duration p95",
                        [(quantile(0.95, "handler_duration_seconds", "handler"), "{{handler}}")],
                        unit="s",
                    ),
                ],
            ),
            Row(
                "Processes",
                [
                    Panel(
                        "CPU",
                        [
                            (
                                "rate(process_cpu_seconds_total[$__rate_interval])",
                                "{{job}} {{instance}}",
                            )
                        ],
                        unit="percentunit",
                    ),
                    Panel(
                        "Resident memory",
                        [("process_resident_memory_bytes", "{{job}} {{instance}}")],
                        unit="bytes",
                    ),
                ],
            ),
        ],
    ),
    Dashboard(
        uid="workflow-pipeline",
        title="Workflow pipeline",
        description="Events in, matches, executions, actions, dead letters and the scheduler.",
        rows=[
            Row(
                "Ingest",
                [
                    Panel(
                        "Events published per second by type",
                        [(rate("ingest_events_in_total", "type"), "{{type}}")],
                        unit="ops",
                    ),
                    Panel(
                        "Dead letters per second by code",
                        [
                            (rate("ingest_events_deadlettered_total", "code"), "events: {{code}}"),
                            (
                                rate("executor_executions_deadlettered_total", "code"),
                                "executions: {{code}}",
                            ),
                        ],
                        unit="ops",
                        description="Replay them after a fix with `wf replay events|executions`.",
                    ),
                ],
            ),
            Row(
                "Matcher",
                [
                    Panel(
                        "Executions requested per second by trigger",
                        [
                            (rate("matcher_executions_requested_total", "trigger"), "{{trigger}}"),
                            (
                                "sum(rate(matcher_events_rejected_total[$__rate_interval]))",
                                "rejected records",
                            ),
                        ],
                        unit="ops",
                    ),
                    Panel(
                        "Event to request latency",
                        [
                            (quantile(0.5, "matcher_match_latency_seconds"), "p50"),
                            (quantile(0.95, "matcher_match_latency_seconds"), "p95"),
                            (quantile(0.99, "matcher_match_latency_seconds"), "p99"),
                        ],
                        unit="s",
                    ),
                ],
            ),
            Row(
                "Executor",
                [
                    Panel(
                        "Executions finished per second by status",
                        [(rate("executor_executions_finished_total", "status"), "{{status}}")],
                        unit="ops",
                    ),
                    Panel(
                        "Throttled and exited runs per second",
                        [
                            (
                                rate(
                                    "executor_executions_finished_total",
                                    "status",
                                    'status=~"throttled|exited"',
                                ),
                                "{{status}}",
                            )
                        ],
                        unit="ops",
                    ),
                    Panel(
                        "Action errors per second by type",
                        [
                            (
                                rate("executor_actions_total", "action_type", 'outcome="failed"'),
                                "{{action_type}}",
                            )
                        ],
                        unit="ops",
                    ),
                    Panel(
                        "Actions per second by type and outcome",
                        [
                            (
                                rate("executor_actions_total", "action_type, outcome"),
                                "{{action_type}} {{outcome}}",
                            )
                        ],
                        unit="ops",
                    ),
                    Panel(
                        "Action latency p95 by type",
                        [
                            (
                                quantile(0.95, "executor_action_duration_seconds", "action_type"),
                                "{{action_type}}",
                            )
                        ],
                        unit="s",
                    ),
                ],
            ),
            Row(
                "Scheduler and outbox",
                [
                    Panel(
                        "Scheduler lateness",
                        [
                            (quantile(0.5, "scheduler_cron_lateness_seconds"), "cron p50"),
                            (quantile(0.99, "scheduler_cron_lateness_seconds"), "cron p99"),
                            (quantile(0.99, "scheduler_timer_lateness_seconds"), "timers p99"),
                        ],
                        unit="s",
                        description="How long after its scheduled time a cron slot fired, and "
                        "after its due time a timer was handed back.",
                    ),
                    Panel(
                        "Time events emitted per second",
                        [
                            (rate("scheduler_time_events_emitted_total", "type"), "{{type}}"),
                            (
                                "sum(rate(scheduler_timers_fired_total[$__rate_interval]))",
                                "timers fired",
                            ),
                        ],
                        unit="ops",
                    ),
                    Panel(
                        "Timers pending, contracts tracked",
                        [
                            ("max(scheduler_timers_pending)", "timers pending"),
                            ("max(scheduler_contracts_tracked)", "contracts tracked"),
                        ],
                        unit="short",
                        description="Counted every SCHEDULER_GAUGE_SECONDS by each replica; "
                        "they count the same rows, so the panel shows the highest.",
                    ),
                    Panel(
                        "Tick duration p95",
                        [(quantile(0.95, "scheduler_tick_duration_seconds", "job"), "{{job}}")],
                        unit="s",
                    ),
                    Panel(
                        "Workflow changes relayed per second (outbox)",
                        [
                            (
                                "sum(rate(outbox_records_published_total[$__rate_interval]))",
                                "relayed",
                            )
                        ],
                        unit="ops",
                    ),
                ],
            ),
        ],
    ),
    Dashboard(
        uid="workflow-lag",
        title="Kafka consumer lag",
        description="How far each consumer group is behind (max over the replicas that report it).",
        rows=[
            Row(
                "Per group",
                [
                    Panel(
                        "Records behind",
                        [
                            (
                                "sum by (group, topic) (max by (group, topic, partition) "
                                "(kafka_consumer_group_lag))",
                                "{{group}} {{topic}}",
                            )
                        ],
                    ),
                    Panel(
                        "Age of the oldest unprocessed record",
                        [
                            (
                                "max by (group, topic) (kafka_consumer_group_lag_seconds)",
                                "{{group}} {{topic}}",
                            )
                        ],
                        unit="s",
                    ),
                ],
            ),
            Row(
                "Per partition",
                [
                    Panel(
                        "Records behind per partition",
                        [
                            (
                                "max by (group, topic, partition) (kafka_consumer_group_lag)",
                                "{{group}} {{topic}}/{{partition}}",
                            )
                        ],
                        width=24,
                    ),
                    Panel(
                        "Lag reads that failed per second",
                        [
                            (
                                rate("kafka_consumer_group_lag_reads_failed_total", "job, group"),
                                "{{job}} {{group}}",
                            )
                        ],
                        unit="ops",
                    ),
                ],
            ),
        ],
    ),
]


def _panel(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": 8, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": panel.unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {
                "refId": chr(ord("A") + index),
                "datasource": DATASOURCE,
                "expr": expr,
                "legendFormat": legend,
            }
            for index, (expr, legend) in enumerate(panel.queries)
        ],
    }


def render(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    panels: list[dict[str, Any]] = []
    y = 0
    for row in dashboard.rows:
        panels.append(
            {"id": len(panels) + 1, "type": "row", "title": row.title, "collapsed": False,
             "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []}
        )  # fmt: skip
        y += 1
        x = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y = 0, y + 8
            panels.append(_panel(panel, len(panels) + 1, x, y))
            x += panel.width
        y += 8
    return {
        "uid": dashboard.uid,
        "title": dashboard.title,
        "description": dashboard.description,
        "tags": ["workflow"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []},
        "annotations": {"list": []},
        "panels": panels,
    }


def files() -> dict[Path, str]:
    return {
        DIRECTORY / f"{dashboard.uid}.json": json.dumps(render(dashboard), indent=2) + "\n"
        for dashboard in DASHBOARDS
    }


if __name__ == "__main__":
    wanted = files()
    if "--check" in sys.argv:
        stale = [
            path for path, text in wanted.items() if not path.exists() or path.read_text() != text
        ]
        sys.exit(1 if stale else 0)
    DIRECTORY.mkdir(parents=True, exist_ok=True)
    for path, text in wanted.items():
        path.write_text(text)
