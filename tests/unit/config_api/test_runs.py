"""Run now, the runs page's filters and the stats strip's figures, without I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.config_api.domain import InvalidInput, WorkflowRecord, parse_definition
from services.config_api.domain.runs import (
    ConditionsNotMet,
    DataTooLarge,
    NotRunnable,
    RunRow,
    WorkflowStats,
    parse_run,
    parse_run_filters,
    parse_window,
    plan_run,
)
from shared.contracts import execution_id_for

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def workflow(**fields: Any) -> WorkflowRecord:
    definition = parse_definition(
        {
            "name": "Deal alert",
            "trigger": "private_offer.accepted",
            "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}],
            "status": "active",
            **fields,
        }
    )
    return WorkflowRecord(
        id="wf_1",
        tenant_id="acme",
        version=3,
        definition=definition,
        created_at=NOW,
        updated_at=NOW,
        created_by="api-key:1",
    )


def test_a_run_is_a_workflow_triggered_event_for_the_current_version() -> None:
    run = parse_run({"data": {"value": 5}}, max_data_bytes=1024)
    request = plan_run(workflow(), run, actor="api-key:7", now=NOW)
    event = request.event
    assert (event.type, event.subject, event.source, event.tenantid, event.time) == (
        "workflow.triggered",
        "wf_1",
        "config-api:api-key:7",
        "acme",
        NOW,
    )
    assert event.data == {"value": 5}
    assert event.id.startswith("run_")
    assert (request.workflow_id, request.workflow_version, request.requested_at) == ("wf_1", 3, NOW)
    assert request.execution_id == execution_id_for(event, "wf_1", 3)
    again = plan_run(workflow(), run, actor="api-key:7", now=NOW)
    assert again.execution_id != request.execution_id, "each run is a run of its own"


def test_only_active_workflows_run_and_paused_ones_with_force() -> None:
    with pytest.raises(NotRunnable) as paused:
        plan_run(workflow(status="paused"), parse_run({}, max_data_bytes=64), actor="a", now=NOW)
    assert paused.value.code == "workflow_paused"
    assert paused.value.details[0]["path"] == "$.force"
    forced = parse_run({"force": True}, max_data_bytes=64)
    assert plan_run(workflow(status="paused"), forced, actor="a", now=NOW).workflow.status == (
        "paused"
    )
    for status in ("draft", "archived"):
        with pytest.raises(NotRunnable) as refused:
            plan_run(workflow(status=status), forced, actor="a", now=NOW)
        assert refused.value.code == "workflow_not_active"


def test_the_workflow_s_conditions_apply_to_a_manual_run() -> None:
    conditional = workflow(
        conditions={
            "logic": "AND",
            "rules": [
                {"field": "value", "operator": "greater_than", "value": 100000},
                {"field": "vendor", "operator": "equals", "value": "aws"},
            ],
        }
    )
    with pytest.raises(ConditionsNotMet) as unmet:
        plan_run(
            conditional,
            parse_run({"data": {"value": 5, "vendor": "aws"}}, max_data_bytes=1024),
            actor="a",
            now=NOW,
        )
    assert [d["path"] for d in unmet.value.details] == ["$.data.value"]
    assert "greater_than 100000 is false (actual: 5)" in unmet.value.details[0]["message"]
    met = parse_run({"data": {"value": 150000, "vendor": "aws"}}, max_data_bytes=1024)
    assert plan_run(conditional, met, actor="a", now=NOW).event.data["value"] == 150000


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"data": []}, "$.data"),
        ({"data": "x"}, "$.data"),
        ({"force": "yes"}, "$.force"),
        ({"force": 1}, "$.force"),
        ({"dryRun": True}, "$.dryRun"),
        ([], "$"),
    ],
)
def test_run_requests_are_checked_field_by_field(body: object, path: str) -> None:
    with pytest.raises(InvalidInput) as invalid:
        parse_run(body, max_data_bytes=1024)
    assert invalid.value.details[0]["path"] == path


def test_run_data_is_size_capped_and_depth_capped() -> None:
    parse_run({"data": {"k": "x" * 10}}, max_data_bytes=18)
    with pytest.raises(DataTooLarge) as large:
        parse_run({"data": {"k": "x" * 11}}, max_data_bytes=18)
    assert large.value.details == [{"path": "$.data", "message": "at most 18 bytes of JSON"}]
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(40):
        node["n"] = {}
        node = node["n"]
    with pytest.raises(InvalidInput) as invalid:
        parse_run({"data": deep}, max_data_bytes=10_000)
    assert invalid.value.details[0]["path"].startswith("$.data")


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ({"status": "done"}, "query.status"),
        ({"trigger": "deal.created"}, "query.trigger"),
        ({"since": "yesterday"}, "query.from"),
        ({"since": "2026-12-01T00:00:00"}, "query.from"),
        ({"until": "2026-13-01T00:00:00Z"}, "query.to"),
        ({"since": "2026-12-02T00:00:00Z", "until": "2026-12-01T00:00:00Z"}, "query.to"),
        ({"workflow": "w" * 257}, "query.workflow"),
    ],
)
def test_bad_run_filters_name_the_parameter(query: dict[str, str], path: str) -> None:
    arguments: dict[str, str | None] = dict.fromkeys(
        ("status", "workflow", "trigger", "since", "until")
    )
    with pytest.raises(InvalidInput) as invalid:
        parse_run_filters(**(arguments | query))
    assert invalid.value.details[0]["path"] == path


def test_run_filters_are_normalized_to_utc() -> None:
    filters = parse_run_filters(
        status="failed",
        workflow="wf_1",
        trigger="workflow.triggered",
        since="2026-12-01T01:00:00+01:00",
        until=None,
    )
    assert filters.since == datetime(2026, 12, 1, tzinfo=UTC)
    assert (filters.status, filters.trigger, filters.until) == (
        "failed",
        "workflow.triggered",
        None,
    )


def test_a_run_row_shows_its_duration_once_finished() -> None:
    row = RunRow("exe_1", "wf_1", "Deal alert", 1, "private_offer.accepted", "x", "succeeded",
                 NOW, NOW + timedelta(seconds=1.25), None)  # fmt: skip
    assert row.to_api()["durationMs"] == 1250
    running = RunRow("exe_2", "wf_1", None, 1, "t", None, "running", NOW, None, None)
    assert running.to_api()["durationMs"] is None


def test_the_success_rate_is_over_runs_that_completed() -> None:
    stats = WorkflowStats(
        workflow_id="wf_1",
        window="24h",
        since=NOW - timedelta(days=1),
        until=NOW,
        by_status={"succeeded": 6, "succeeded_with_errors": 1, "failed": 1, "throttled": 5},
        median_ms=10.0,
        p95_ms=20.0,
        last_run=None,
    )
    shown = stats.to_api()
    assert (shown["runs"], shown["successRate"], shown["throttled"], shown["failed"]) == (
        13,
        0.75,
        5,
        1,
    )
    assert shown["byStatus"]["running"] == 0
    empty = WorkflowStats("wf_1", "7d", NOW, NOW, {}, None, None, None)
    assert empty.to_api()["successRate"] is None


def test_windows() -> None:
    assert parse_window(None) == "24h"
    assert parse_window("30d") == "30d"
    with pytest.raises(InvalidInput) as invalid:
        parse_window("1y")
    assert invalid.value.details[0]["path"] == "query.window"
