"""The matcher's handler: requests handed to the sink, in order, and the delivery returned."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime

from services.matcher.domain import WorkflowIndex
from services.matcher.handlers import ExecutionSink, request_executions
from shared.contracts import (
    CloudEvent,
    ExecutionRequest,
    WebhookAction,
    WorkflowChange,
    WorkflowDefinition,
)


class RecordingSink(ExecutionSink):
    def __init__(self) -> None:
        self.batches: list[list[ExecutionRequest]] = []
        self.delivered: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def request(self, requests: Sequence[ExecutionRequest]) -> Awaitable[object]:
        self.batches.append(list(requests))
        return self.delivered


def active_workflow(workflow_id: str, version: int = 1) -> WorkflowChange:
    return WorkflowChange(
        tenant_id="acme",
        workflow_id=workflow_id,
        version=version,
        workflow=WorkflowDefinition(
            name=workflow_id,
            trigger="contract.expiring",
            actions=[WebhookAction(type="webhook", url="https://hooks.example.com/a")],
            status="active",
        ),
        changed_at=datetime(2026, 11, 21, tzinfo=UTC),
    )


async def test_each_triggered_workflow_gets_a_request_and_the_sinks_delivery_is_returned() -> None:
    index = WorkflowIndex()
    index.apply(active_workflow("wf-a"))
    index.apply(active_workflow("wf-b", version=2))
    sink = RecordingSink()
    event = CloudEvent(id="evt_1", source="native", type="contract.expiring", tenantid="acme")

    requested = await request_executions(index, sink, event)

    assert [(r.workflow_id, r.workflow_version) for r in requested.requests] == [
        ("wf-a", 1),
        ("wf-b", 2),
    ]
    assert sink.batches == [requested.requests]
    assert requested.delivered is sink.delivered


async def test_an_event_that_triggers_nothing_hands_on_nothing() -> None:
    sink = RecordingSink()
    event = CloudEvent(id="evt_1", source="native", type="customer.created", tenantid="acme")

    requested = await request_executions(WorkflowIndex(), sink, event)

    assert requested.requests == []
    assert sink.batches == [[]]
