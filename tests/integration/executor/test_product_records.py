"""Actions that write the product's own records, and trigger_workflow, through the real executor:
rows written once however often a step is delivered, whitelisted record fields, chained events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.executor.adapters.records import ProductRecords
from services.executor.service import ExecutorService
from shared.contracts import CloudEvent, Topics
from shared.postgres import Pool
from shared.settings import KafkaSettings
from tests.integration.executor.conftest import (
    StartExecutor,
    as_record,
    finished_execution,
    produce,
    records_of,
    request_for,
    steps_of,
)

pytestmark = pytest.mark.integration

RECORD_ACTIONS: list[dict[str, Any]] = [
    {
        "type": "create_task",
        "title": "Renewal conversation: {{customerName}}",
        "assignTo": "account_owner",
        "dueDate": "+7 days",
        "priority": "high",
    },
    {
        "type": "create_task_series",
        "tasks": [
            {"title": "Schedule kickoff call", "dueDate": "+1 day"},
            {"title": "Check-in call", "dueDate": "+14 days", "assignTo": "jdoe"},
        ],
        "assignTo": "customer_success",
    },
    {"type": "assign_to_user", "assignTo": "{{accountOwnerEmail}}"},
    {
        "type": "update_record",
        "recordType": "deal",
        "mapping": {"stage": "closed_won", "value": "{{value}}"},
    },
    {"type": "create_record", "recordType": "customer", "mapping": {"name": "{{customerName}}"}},
    {"type": "tag", "tags": ["vip", "{{vendor}}"]},
    {"type": "log_activity", "subject": "Deal won: {{customerName}}", "activityType": "note"},
    {
        "type": "in_app_notification",
        "to": ["account_owner", "sales_manager"],
        "message": "{{customerName}} won",
    },
    {
        "type": "create_draft_offer",
        "basedOn": "current_contract",
        "adjustments": {"duration": 12, "discount": 10},
    },
]


async def rows(pool: Pool, table: str, execution_id: str) -> list[dict[str, Any]]:
    found = await pool.fetch(
        f"SELECT * FROM executor_published.{table} WHERE execution_id = $1 ORDER BY id",  # noqa: S608 - fixed names
        execution_id,
    )
    return [dict(row) for row in found]


async def test_every_record_action_writes_its_rows_once_however_often_it_is_delivered(
    executor: ExecutorService, kafka_settings: KafkaSettings, pool: Pool, tenant_id: str
) -> None:
    data = {
        "customerName": "Globex",
        "value": 150000,
        "vendor": "aws",
        "accountOwnerEmail": "owner@acme.test",
        "contractId": "ctr-9",
        "duration": 24,
        "productName": "DataPipe",
    }
    request = request_for(tenant_id, RECORD_ACTIONS, data=data, subject="acct-42")
    later = request_for(tenant_id, RECORD_ACTIONS[:1], data=data, workflow_id=request.workflow_id)
    await produce(kafka_settings, as_record(request), as_record(request), as_record(later))
    await finished_execution(pool, later.execution_id)

    execution = await finished_execution(pool, request.execution_id)
    assert execution["status"] == "succeeded", execution["error"]
    steps = await steps_of(pool, request.execution_id)
    assert [s["status"] for s in steps] == ["succeeded"] * len(RECORD_ACTIONS)
    today = datetime.now(UTC).date()

    tasks = sorted(
        await rows(pool, "tasks", request.execution_id),
        key=lambda t: (t["step_index"], t["item_index"]),
    )
    assert [(t["title"], t["assignee"], t["due_date"], t["priority"]) for t in tasks] == [
        ("Renewal conversation: Globex", "owner@acme.test", today + timedelta(days=7), "high"),
        ("Schedule kickoff call", "role:customer_success", today + timedelta(days=1), "medium"),
        ("Check-in call", "jdoe", today + timedelta(days=14), "medium"),
    ]
    assert {t["subject"] for t in tasks} == {"acct-42"}
    assert steps[0]["result"]["taskId"] == tasks[0]["id"]

    [assignment] = await rows(pool, "assignments", request.execution_id)
    assert (assignment["subject"], assignment["assignee"]) == ("acct-42", "owner@acme.test")

    deal = await pool.fetchrow(
        "SELECT * FROM executor_published.records WHERE tenant_id = $1 AND record_type = 'deal'",
        tenant_id,
    )
    assert deal is not None
    assert (deal["record_key"], deal["fields"]) == (
        "acct-42",
        {"stage": "closed_won", "value": 150000},
    )
    assert deal["last_execution_id"] == request.execution_id
    customer = await pool.fetchrow(
        "SELECT * FROM executor_published.records WHERE tenant_id = $1 AND record_type = 'customer'",
        tenant_id,
    )
    assert customer is not None
    assert customer["fields"] == {"name": "Globex"}

    tags = await pool.fetch(
        "SELECT tag FROM executor_published.tags WHERE tenant_id = $1 ORDER BY tag", tenant_id
    )
    assert [t["tag"] for t in tags] == ["aws", "vip"]
    [activity] = await rows(pool, "activities", request.execution_id)
    assert (activity["title"], activity["activity_type"]) == ("Deal won: Globex", "note")
    notifications = await rows(pool, "notifications", request.execution_id)
    assert sorted(n["recipient"] for n in notifications) == [
        "owner@acme.test",
        "role:sales_manager",
    ]
    [offer] = await rows(pool, "draft_offers", request.execution_id)
    assert (offer["source_id"], offer["duration_months"], offer["discount_percent"]) == (
        "ctr-9",
        12,
        10.0,
    )
    assert (offer["base_value"], offer["value"], offer["status"]) == (150000.0, 135000.0, "draft")
    assert offer["name"] == "Renewal - Globex - DataPipe"


async def test_a_redelivered_step_writes_nothing_new(pool: Pool, tenant_id: str) -> None:
    """A step performed again (a crash before its record was written) finds its rows."""
    records = ProductRecords(pool)
    request = request_for(tenant_id, RECORD_ACTIONS)
    for _ in range(2):
        for index, action in enumerate(request.workflow.actions):
            assert (await records.perform(request, index, action)).status == "succeeded"
    counts = {
        table: len(await rows(pool, table, request.execution_id))
        for table in ("tasks", "assignments", "activities", "notifications", "draft_offers")
    }
    assert counts == {
        "tasks": 3,
        "assignments": 1,
        "activities": 1,
        "notifications": 2,
        "draft_offers": 1,
    }
    changes = await pool.fetchval(
        "SELECT count(*) FROM record_changes WHERE execution_id = $1", request.execution_id
    )
    assert changes == 2
    # Tagged once; the second time the tags are reported as there already.
    again = await records.perform(request, 5, request.workflow.actions[5])
    assert again.result["added"] == ["vip", "aws"]  # this very step added them the first time


async def test_an_old_update_redelivered_never_overwrites_a_newer_one(
    pool: Pool, tenant_id: str
) -> None:
    records = ProductRecords(pool)
    first = request_for(
        tenant_id,
        [{"type": "update_record", "recordType": "deal", "mapping": {"stage": "negotiation"}}],
    )
    second = request_for(
        tenant_id,
        [{"type": "update_record", "recordType": "deal", "mapping": {"stage": "closed_won"}}],
    )
    for request in (first, second, first):
        await records.perform(request, 0, request.workflow.actions[0])
    fields = await pool.fetchval(
        "SELECT fields FROM executor_published.records WHERE tenant_id = $1 AND record_key = 'acct-42'",
        tenant_id,
    )
    assert fields == {"stage": "closed_won"}


async def test_update_record_refuses_a_field_outside_the_whitelist_and_says_which(
    pool: Pool, tenant_id: str
) -> None:
    request = request_for(
        tenant_id,
        [
            {
                "type": "update_record",
                "recordType": "deal",
                "mapping": {"stage": "won", "ownerId": "me"},
            }
        ],
    )
    outcome = await ProductRecords(pool).perform(request, 0, request.workflow.actions[0])
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == "field_not_allowed"
    assert "mapping.ownerId" in outcome.error.message
    assert "'ownerId' cannot be set by a workflow" in outcome.error.message
    assert await pool.fetchval("SELECT count(*) FROM records WHERE tenant_id = $1", tenant_id) == 0


async def test_tagging_needs_a_subject(pool: Pool, tenant_id: str) -> None:
    request = request_for(tenant_id, [{"type": "tag", "tags": ["vip"]}], subject=None)
    outcome = await ProductRecords(pool).perform(request, 0, request.workflow.actions[0])
    assert outcome.error is not None
    assert outcome.error.code == "no_subject"


async def chained_events(
    settings: KafkaSettings, count: int
) -> list[tuple[bytes | None, CloudEvent]]:
    """The first ``count`` events on ``events.normalized``, with their keys."""
    topic = Topics(settings.topic_prefix).events_normalized
    found = await records_of(settings, topic, count)
    return [(key, CloudEvent.model_validate_json(value)) for key, value in found]


async def test_trigger_workflow_publishes_a_targeted_event_and_stops_a_runaway_chain(
    start_executor: StartExecutor, kafka_settings: KafkaSettings, pool: Pool, tenant_id: str
) -> None:
    await start_executor(max_chain_depth=3)
    chained = request_for(
        tenant_id,
        [{"type": "trigger_workflow", "workflowId": "wf_target", "passData": True}],
        chaindepth=1,
    )
    plain = request_for(tenant_id, [{"type": "trigger_workflow", "workflowId": "wf_target"}])
    runaway = request_for(
        tenant_id, [{"type": "trigger_workflow", "workflowId": "wf_target"}], chaindepth=3
    )
    await produce(kafka_settings, as_record(chained), as_record(plain), as_record(runaway))

    assert (await finished_execution(pool, chained.execution_id))["status"] == "succeeded"
    assert (await finished_execution(pool, plain.execution_id))["status"] == "succeeded"
    stopped = await finished_execution(pool, runaway.execution_id)
    assert stopped["status"] == "failed"
    assert stopped["error"]["code"] == "chain_too_deep"

    published = await chained_events(kafka_settings, 2)
    assert {key for key, _ in published} == {tenant_id.encode()}, "keyed by tenant"
    events = {event.id: event for _, event in published}
    first = events[f"chain:{chained.execution_id}:0"]
    assert (first.type, first.subject, first.tenantid) == (
        "workflow.triggered",
        "wf_target",
        tenant_id,
    )
    assert (first.chaindepth, first.data, first.source) == (
        2,
        chained.event.data,
        f"workflow:{chained.workflow_id}",
    )
    second = events[f"chain:{plain.execution_id}:0"]
    assert (second.chaindepth, second.data) == (1, {})
    [step] = await steps_of(pool, chained.execution_id)
    assert step["result"] == {"eventId": first.id, "workflowId": "wf_target", "chainDepth": 2}
