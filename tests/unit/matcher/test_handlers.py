"""The matcher's handler: requests handed to the sink, in order, and the delivery returned."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime

from services.matcher.domain import EnrollmentKey, WorkflowIndex
from services.matcher.handlers import Enrollments, ExecutionSink, request_executions
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


class InMemoryEnrollments(Enrollments):
    def __init__(self) -> None:
        self.enrolled_executions: dict[tuple[str, str, str], str] = {}

    async def enrolled(self, keys: Sequence[EnrollmentKey]) -> list[bool]:
        return [
            self.enrolled_executions.setdefault(
                (key.tenant_id, key.workflow_id, key.subject), key.execution_id
            )
            == key.execution_id
            for key in keys
        ]


def active_workflow(workflow_id: str, version: int = 1, *, enrollment: str = "every_time") -> bytes:
    return (
        WorkflowChange(
            tenant_id="acme",
            workflow_id=workflow_id,
            version=version,
            workflow=WorkflowDefinition(
                name=workflow_id,
                trigger="contract.expiring",
                actions=[WebhookAction(type="webhook", url="https://hooks.example.com/a")],
                status="active",
                enrollment=enrollment,
            ),
            changed_at=datetime(2026, 11, 21, tzinfo=UTC),
        )
        .model_dump_json(by_alias=True)
        .encode()
    )


async def test_each_triggered_workflow_gets_a_request_and_the_sinks_delivery_is_returned() -> None:
    index = WorkflowIndex()
    index.apply(active_workflow("wf-a"))
    index.apply(active_workflow("wf-b", version=2))
    sink = RecordingSink()
    event = CloudEvent(id="evt_1", source="native", type="contract.expiring", tenantid="acme")

    requested = await request_executions(index, sink, InMemoryEnrollments(), event)

    assert [(r.workflow_id, r.workflow_version) for r in requested.requests] == [
        ("wf-a", 1),
        ("wf-b", 2),
    ]
    assert sink.batches == [requested.requests]
    assert requested.delivered is sink.delivered


async def test_an_event_that_triggers_nothing_hands_on_nothing() -> None:
    sink = RecordingSink()
    event = CloudEvent(id="evt_1", source="native", type="customer.created", tenantid="acme")

    requested = await request_executions(WorkflowIndex(), sink, InMemoryEnrollments(), event)

    assert requested.requests == []
    assert sink.batches == [[]]


async def test_a_once_workflow_runs_for_each_subjects_first_event_only() -> None:
    index = WorkflowIndex()
    index.apply(active_workflow("wf-once", enrollment="once"))
    index.apply(active_workflow("wf-every"))
    enrollments = InMemoryEnrollments()

    async def triggered(event_id: str, subject: str | None) -> list[str]:
        event = CloudEvent(
            id=event_id, source="native", type="contract.expiring", tenantid="acme", subject=subject
        )
        requested = await request_executions(index, RecordingSink(), enrollments, event)
        return [request.workflow_id for request in requested.requests]

    assert await triggered("e1", "account-1") == ["wf-once", "wf-every"]
    assert await triggered("e2", "account-1") == ["wf-every"]
    assert await triggered("e1", "account-1") == ["wf-once", "wf-every"]  # a redelivery of e1
    assert await triggered("e3", "account-2") == ["wf-once", "wf-every"]
    assert await triggered("e4", None) == ["wf-once", "wf-every"]  # no subject: no one to enroll
