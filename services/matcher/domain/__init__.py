"""Which workflows an event triggers, and the execution requests it yields. Pure: no I/O.

The matcher knows each workflow only by its latest changelog record. A ``WorkflowIndex``
(``index``) holds those for a set of tenants, compiled (``predicates``), and answers "which
active workflows does this event trigger" at the cost of what the event matches, not of every
workflow the tenants have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from services.matcher.domain.index import (
    TARGETED_TRIGGERS,
    UnreadableWorkflow,
    Workflow,
    WorkflowIndex,
)
from shared.contracts import CloudEvent, ExecutionRequest, execution_id_for

__all__ = [
    "TARGETED_TRIGGERS",
    "EnrollmentKey",
    "Planned",
    "UnreadableWorkflow",
    "Workflow",
    "WorkflowIndex",
    "enrollment_key",
    "execution_requests",
]


@dataclass(frozen=True, slots=True)
class Planned:
    """The requests an event yields, and the matched workflows whose definition is unreadable
    (with the reason): those cannot run, and are left out."""

    requests: list[ExecutionRequest]
    unreadable: list[tuple[Workflow, str]]


def execution_requests(event: CloudEvent, workflows: Iterable[Workflow]) -> Planned:
    """One request per workflow, with the id that makes a redelivered event yield the same one."""
    requests: list[ExecutionRequest] = []
    unreadable: list[tuple[Workflow, str]] = []
    for workflow in workflows:
        try:
            definition = workflow.definition()
        except UnreadableWorkflow as error:
            unreadable.append((workflow, str(error)))
            continue
        # Every part is validated already (the event when decoded, the definition when parsed):
        # constructing skips validating them again, which costs more than the matching.
        requests.append(
            ExecutionRequest.model_construct(
                execution_id=execution_id_for(event, workflow.id, workflow.version),
                tenant_id=workflow.tenant_id,
                workflow_id=workflow.id,
                workflow_version=workflow.version,
                workflow=definition,
                event=event,
            )
        )
    return Planned(requests, unreadable)


@dataclass(frozen=True, slots=True)
class EnrollmentKey:
    """One subject's enrollment in a workflow that runs once per subject (seed 001)."""

    tenant_id: str
    workflow_id: str
    subject: str
    execution_id: str


def enrollment_key(request: ExecutionRequest) -> EnrollmentKey | None:
    """The enrollment ``request`` needs, or None when it may run every time.

    ``enrollment: once`` means once per subject: the account or customer the event is about, its
    envelope's ``subject``. An event without a subject names no one to enroll and always runs.
    """
    if request.workflow.enrollment != "once" or not request.event.subject:
        return None
    return EnrollmentKey(
        request.tenant_id, request.workflow_id, request.event.subject, request.execution_id
    )
