"""The shared contracts: workflow definitions, execution ids, the tenant partitioner."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import DefaultPartitioner
from pydantic import ValidationError

from shared.contracts import CloudEvent, WorkflowDefinition, execution_id_for
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
