"""The shared contracts: workflow definitions, execution ids, the tenant partitioner, what an
envelope may carry, deferred executions."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError

from shared.contracts import (
    CloudEvent,
    DeferredExecution,
    ExecutionRequest,
    Resumption,
    WorkflowChange,
    WorkflowDefinition,
    execution_id_for,
)
from shared.contracts.envelope import MAX_DATA_DEPTH
from shared.kafka import tenant_partition, tenant_partitioner

HOOK = [{"type": "webhook", "url": "https://hooks.example.com/x"}]


@pytest.mark.parametrize(("active", "status"), [(True, "active"), (False, "paused")])
def test_active_is_a_synonym_of_status(active: bool, status: str) -> None:
    workflow = WorkflowDefinition.model_validate(
        {"name": "w", "trigger": "customer.created", "actions": HOOK, "active": active}
    )
    assert workflow.status == status
    assert workflow.active is active


def test_a_contradicting_active_flag_is_refused() -> None:
    with pytest.raises(ValidationError, match="contradicts"):
        WorkflowDefinition.model_validate(
            {
                "name": "w",
                "trigger": "customer.created",
                "actions": HOOK,
                "active": True,
                "status": "paused",
            }
        )


def test_a_definition_round_trips_through_its_own_json() -> None:
    workflow = WorkflowDefinition.model_validate(
        {
            "name": "w",
            "trigger": "schedule.cron",
            "schedule": {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"},
            "actions": HOOK,
        }
    )
    assert WorkflowDefinition.model_validate_json(workflow.model_dump_json()) == workflow


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ({"cron": "0 25 * * *"}, "invalid cron"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "unknown IANA time zone"),
        (None, "needs 'schedule'"),
    ],
)
def test_cron_schedules_are_validated(schedule: object, message: str) -> None:
    body = {"name": "w", "trigger": "schedule.cron", "actions": HOOK, "schedule": schedule}
    with pytest.raises(ValidationError, match=message):
        WorkflowDefinition.model_validate(body)


def test_a_schedule_needs_the_cron_trigger() -> None:
    with pytest.raises(ValidationError, match="only allowed"):
        WorkflowDefinition.model_validate(
            {
                "name": "w",
                "trigger": "customer.created",
                "actions": HOOK,
                "schedule": {"cron": "* * * * *"},
            }
        )


def test_execution_ids_are_deterministic_per_event_workflow_and_version() -> None:
    event = CloudEvent(id="e1", source="native", type="customer.created", tenantid="acme")
    same = CloudEvent(
        id="e1", source="native", type="customer.created", tenantid="acme", data={"x": 1}
    )
    assert execution_id_for(event, "wf_1", 1) == execution_id_for(same, "wf_1", 1)
    assert execution_id_for(event, "wf_1", 2) != execution_id_for(event, "wf_1", 1)
    assert execution_id_for(event, "wf_2", 1) != execution_id_for(event, "wf_1", 1)
    other_tenant = CloudEvent(id="e1", source="native", type="customer.created", tenantid="globex")
    assert execution_id_for(other_tenant, "wf_1", 1) != execution_id_for(event, "wf_1", 1)


@pytest.mark.parametrize("tenant", ["acme", "globex", "tenant-0042", "a.b_c"])
def test_the_tenant_partitioner_puts_workflows_beside_their_tenants_events(tenant: str) -> None:
    partitions = list(range(12))
    default = DefaultPartitioner()(tenant.encode(), partitions, partitions)
    assert tenant_partitioner(tenant.encode(), partitions, partitions) == default
    assert tenant_partitioner(f"{tenant}/wf_123".encode(), partitions, partitions) == default
    assert tenant_partition(tenant, 12) == default


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"note": "a\u0000b"}, "data.note: must not contain NUL characters"),
        ({"items": [{"name": "\ud800"}]}, "data.items[0].name: must be valid Unicode text"),
        ({"bad\u0000key": 1}, "data: a key must not contain NUL"),
        ({"value": float("nan")}, "data.value: numbers must be finite"),
        ({"value": float("inf")}, "data.value: numbers must be finite"),
    ],
)
def test_an_envelope_refuses_data_the_pipeline_cannot_store(data: object, says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        CloudEvent(id="e1", source="native", type="customer.created", tenantid="acme", data=data)


def test_an_envelope_refuses_data_nested_too_deep_and_keeps_what_is_fine() -> None:
    deep: dict[str, object] = {"leaf": 1}
    for _ in range(MAX_DATA_DEPTH):
        deep = {"next": deep}
    with pytest.raises(ValidationError, match="nests deeper than"):
        CloudEvent(id="e1", source="native", type="customer.created", tenantid="acme", data=deep)
    fine = {"name": "Zoë 🎉", "tags": ["a", "b"], "value": 1.5, "nested": {"ok": None}}
    event = CloudEvent(
        id="e1", source="native", type="customer.created", tenantid="acme", data=fine
    )
    assert event.data == fine


def test_an_envelope_refuses_a_nul_in_its_identifiers() -> None:
    with pytest.raises(ValidationError, match="subject: must not contain NUL"):
        CloudEvent(
            id="e1", source="native", type="customer.created", tenantid="acme", subject="a\u0000"
        )


@pytest.mark.parametrize(
    ("workflow_id", "says"),
    [
        ("wf\u0000x", "must not contain NUL"),
        ("wf\ud800", "unicode string"),
        ("w" * 257, "at most 256 characters"),
        ("", "at least 1 character"),
    ],
)
def test_a_changelog_record_refuses_a_workflow_id_its_readers_cannot_store(
    workflow_id: str, says: str
) -> None:
    """A NUL there crashed the scheduler's schedule store, at every restart (issue 12)."""
    record = {
        "tenant_id": "acme",
        "workflow_id": workflow_id,
        "version": 1,
        "workflow": None,
        "changed_at": "2026-01-01T00:00:00Z",
    }
    with pytest.raises(ValidationError, match=says):
        WorkflowChange.model_validate(record)
    WorkflowChange.model_validate({**record, "workflow_id": "wf-1"})


def test_a_deferred_execution_must_say_when_and_where_it_resumes() -> None:
    event = CloudEvent(id="e1", source="native", type="customer.created", tenantid="acme")
    workflow = WorkflowDefinition.model_validate(
        {"name": "w", "trigger": "customer.created", "actions": HOOK}
    )
    request = ExecutionRequest(
        execution_id="exe_1",
        tenant_id="acme",
        workflow_id="wf_1",
        workflow_version=1,
        workflow=workflow,
        event=event,
    )
    with pytest.raises(ValidationError, match="resumption"):
        DeferredExecution(request=request)
    due = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    parked = request.model_copy(
        update={"resumption": Resumption(timer_id="t1", reason="delay", step=2, due_at=due)}
    )
    deferred = DeferredExecution.model_validate_json(
        DeferredExecution(request=parked).model_dump_json()
    )
    assert deferred.resumption.step == 2
    assert deferred.request.execution_id == "exe_1"


def test_a_schedule_catches_up_once_unless_it_says_skip() -> None:
    def schedule(**extra: object) -> dict[str, object]:
        body = {"name": "w", "trigger": "schedule.cron", "actions": HOOK}
        return body | {"schedule": {"cron": "0 9 * * *", **extra}}

    default = WorkflowDefinition.model_validate(schedule())
    skipping = WorkflowDefinition.model_validate(schedule(catchUp="skip"))
    assert default.schedule is not None
    assert skipping.schedule is not None
    assert (default.schedule.catch_up, skipping.schedule.catch_up) == ("once", "skip")
    assert skipping.model_dump(mode="json")["schedule"]["catchUp"] == "skip"
    assert WorkflowDefinition.model_validate_json(skipping.model_dump_json()) == skipping
    with pytest.raises(ValidationError, match="catchUp"):
        WorkflowDefinition.model_validate(schedule(catchUp="always"))
