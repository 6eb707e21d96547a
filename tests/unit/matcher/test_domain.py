"""The workflow index and the execution requests an event yields."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.matcher.domain import WorkflowIndex, execution_requests
from shared.contracts import (
    CloudEvent,
    Schedule,
    TriggerType,
    WebhookAction,
    WorkflowChange,
    WorkflowDefinition,
    WorkflowStatus,
    execution_id_for,
)

TENANT = "acme"


def definition(
    trigger: TriggerType = "private_offer.accepted",
    status: WorkflowStatus = "active",
    name: str = "workflow",
) -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name,
        trigger=trigger,
        schedule=Schedule(cron="0 9 * * *") if trigger == "schedule.cron" else None,
        actions=[WebhookAction(type="webhook", url="https://hooks.example.com/a")],
        status=status,
    )


def change(
    workflow_id: str,
    version: int,
    workflow: WorkflowDefinition | None,
    tenant_id: str = TENANT,
) -> bytes:
    """A changelog record, as the matcher reads it from the topic."""
    return (
        WorkflowChange(
            tenant_id=tenant_id,
            workflow_id=workflow_id,
            version=version,
            workflow=workflow,
            changed_at=datetime(2026, 11, 21, tzinfo=UTC),
        )
        .model_dump_json(by_alias=True)
        .encode()
    )


def event(
    event_type: TriggerType = "private_offer.accepted",
    tenant_id: str = TENANT,
    subject: str | None = None,
    event_id: str = "evt_1",
) -> CloudEvent:
    return CloudEvent(
        id=event_id, source="native", type=event_type, tenantid=tenant_id, subject=subject
    )


def matched(index: WorkflowIndex, incoming: CloudEvent) -> list[tuple[str, int]]:
    return sorted((workflow.id, workflow.version) for workflow in index.matching(incoming))


def index_of(*changes: bytes) -> WorkflowIndex:
    index = WorkflowIndex()
    for record in changes:
        index.apply(record)
    return index


def test_an_event_triggers_the_active_workflows_with_its_trigger() -> None:
    index = index_of(
        change("wf-1", 1, definition()),
        change("wf-2", 1, definition()),
        change("wf-other-trigger", 1, definition("customer.created")),
    )

    assert matched(index, event()) == [("wf-1", 1), ("wf-2", 1)]
    assert matched(index, event("customer.created")) == [("wf-other-trigger", 1)]
    assert matched(index, event("contract.expiring")) == []
    assert len(index) == 3


def test_the_highest_version_wins_whatever_the_order_and_repetitions() -> None:
    index = WorkflowIndex()

    assert index.apply(change("wf-1", 2, definition(name="second")))
    assert not index.apply(change("wf-1", 1, definition(name="first")))
    assert not index.apply(change("wf-1", 2, definition(name="replayed")))

    [workflow] = index.matching(event())
    assert (workflow.version, workflow.definition().name) == (2, "second")


def test_a_new_version_can_move_a_workflow_to_another_trigger() -> None:
    index = index_of(
        change("wf-1", 1, definition("private_offer.accepted")),
        change("wf-1", 2, definition("customer.created")),
    )

    assert matched(index, event("private_offer.accepted")) == []
    assert matched(index, event("customer.created")) == [("wf-1", 2)]


@pytest.mark.parametrize("status", ["paused", "draft", "archived"])
def test_only_active_workflows_match(status: WorkflowStatus) -> None:
    index = index_of(change("wf-1", 1, definition()), change("wf-1", 2, definition(status=status)))

    assert matched(index, event()) == []
    assert len(index) == 0

    index.apply(change("wf-1", 3, definition(status="active")))
    assert matched(index, event()) == [("wf-1", 3)]


def test_a_deleted_workflow_stays_deleted_when_older_versions_come_again() -> None:
    index = index_of(change("wf-1", 1, definition()), change("wf-1", 2, None))

    assert matched(index, event()) == []
    assert not index.apply(change("wf-1", 1, definition()))
    assert matched(index, event()) == []
    assert len(index) == 0


def test_tenants_never_see_each_others_workflows() -> None:
    index = index_of(
        change("wf-1", 1, definition(), tenant_id="acme"),
        change("wf-1", 4, definition(), tenant_id="globex"),
        change("wf-1", 5, None, tenant_id="globex"),
        change("wf-2", 1, definition(), tenant_id="globex"),
    )

    assert matched(index, event(tenant_id="acme")) == [("wf-1", 1)]
    assert matched(index, event(tenant_id="globex")) == [("wf-2", 1)]
    assert matched(index, event(tenant_id="initech")) == []


def test_a_cron_event_triggers_only_the_workflow_named_in_its_subject() -> None:
    index = index_of(
        change("wf-daily", 1, definition("schedule.cron")),
        change("wf-weekly", 1, definition("schedule.cron")),
        change("wf-offer", 1, definition()),
    )

    assert matched(index, event("schedule.cron", subject="wf-weekly")) == [("wf-weekly", 1)]
    assert matched(index, event("schedule.cron", subject="wf-offer")) == []
    assert matched(index, event("schedule.cron", subject="wf-unknown")) == []
    assert matched(index, event("schedule.cron")) == []


def test_a_cron_event_for_another_tenant_triggers_nothing() -> None:
    index = index_of(change("wf-daily", 1, definition("schedule.cron"), tenant_id="acme"))

    assert matched(index, event("schedule.cron", tenant_id="globex", subject="wf-daily")) == []


def test_a_triggered_event_targets_its_subject_if_it_names_one() -> None:
    index = index_of(
        change("wf-a", 1, definition("workflow.triggered")),
        change("wf-b", 1, definition("workflow.triggered")),
    )

    assert matched(index, event("workflow.triggered", subject="wf-b")) == [("wf-b", 1)]
    assert matched(index, event("workflow.triggered")) == [("wf-a", 1), ("wf-b", 1)]


def test_a_hook_event_triggers_only_its_workflow_and_without_a_subject_none() -> None:
    index = index_of(
        change("wf-hook-a", 1, definition("webhook.received")),
        change("wf-hook-b", 1, definition("webhook.received")),
        change("wf-offer", 1, definition()),
    )

    def hook(subject: str | None) -> CloudEvent:
        return event("webhook.received", subject=subject).model_copy(update={"source": "hook"})

    assert matched(index, hook("wf-hook-b")) == [("wf-hook-b", 1)]
    assert matched(index, hook("wf-offer")) == []
    assert matched(index, hook(None)) == []


def test_a_vendor_webhook_received_event_matches_every_such_workflow_by_its_conditions() -> None:
    index = index_of(
        change("wf-hook-a", 1, definition("webhook.received")),
        change("wf-hook-b", 1, definition("webhook.received")),
    )

    vendor = event("webhook.received", subject="agreement-42").model_copy(
        update={"source": "aws-marketplace"}
    )
    assert matched(index, vendor) == [("wf-hook-a", 1), ("wf-hook-b", 1)]


def test_execution_requests_carry_the_matched_version_and_a_deterministic_id() -> None:
    index = index_of(change("wf-1", 1, definition()), change("wf-1", 3, definition(name="v3")))
    incoming = event(event_id="evt_42")

    [request] = execution_requests(incoming, index.matching(incoming)).requests
    [again] = execution_requests(incoming, index.matching(incoming)).requests

    assert request.execution_id == again.execution_id == execution_id_for(incoming, "wf-1", 3)
    assert (request.tenant_id, request.workflow_id, request.workflow_version) == (TENANT, "wf-1", 3)
    assert request.workflow.name == "v3"
    assert request.event == incoming


def test_execution_ids_differ_by_event_workflow_and_version() -> None:
    index = index_of(change("wf-1", 1, definition()), change("wf-2", 1, definition()))
    first, second = event(event_id="evt_1"), event(event_id="evt_2")
    ids = {r.execution_id for r in execution_requests(first, index.matching(first)).requests}
    ids |= {r.execution_id for r in execution_requests(second, index.matching(second)).requests}
    index.apply(change("wf-1", 2, definition()))
    ids |= {r.execution_id for r in execution_requests(first, index.matching(first)).requests}

    assert len(ids) == 5


def test_no_match_no_request() -> None:
    assert execution_requests(event(), WorkflowIndex().matching(event())).requests == []


def test_conditions_decide_which_triggered_workflows_match() -> None:
    """Seed 000's High-Value Deal Alert: value > 100000 AND vendor = aws."""
    high_value = WorkflowDefinition.model_validate(
        {
            "name": "High-Value Deal Alert",
            "trigger": "private_offer.accepted",
            "conditions": {
                "logic": "AND",
                "rules": [
                    {"field": "value", "operator": "greater_than", "value": 100000},
                    {"field": "vendor", "operator": "equals", "value": "aws"},
                ],
            },
            "actions": [{"type": "webhook", "url": "https://hooks.example.com/a"}],
            "active": True,
        }
    )
    index = index_of(change("wf_high", 1, high_value), change("wf_all", 1, definition()))

    def with_data(data: dict[str, object]) -> CloudEvent:
        return CloudEvent(
            id="e", source="native", type="private_offer.accepted", tenantid=TENANT, data=data
        )

    assert matched(index, with_data({"value": 150000, "vendor": "aws"})) == [
        ("wf_all", 1),
        ("wf_high", 1),
    ]
    assert matched(index, with_data({"value": 150000, "vendor": "azure"})) == [("wf_all", 1)]
    assert matched(index, with_data({"value": "150000", "vendor": "aws"})) == [("wf_all", 1)]
    assert matched(index, with_data({})) == [("wf_all", 1)]
