"""Which workflows an event triggers, and the execution requests it yields. Pure: no I/O.

The matcher knows each workflow only by its latest changelog record. A ``WorkflowIndex`` holds
those for a set of tenants and answers "which active workflows does this event trigger" at the
cost of the workflows that match, not of every workflow the tenants have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from shared.contracts import (
    CloudEvent,
    ExecutionRequest,
    TriggerType,
    WorkflowChange,
    WorkflowDefinition,
    execution_id_for,
)
from shared.workflows import evaluate

TARGETED_TRIGGERS: frozenset[TriggerType] = frozenset({"schedule.cron", "workflow.triggered"})
"""Triggers whose events may name the one workflow they are for in ``subject``.

A ``schedule.cron`` event always targets one workflow (without a subject it triggers none); a
``workflow.triggered`` event targets the workflow in its subject when it has one, and every
workflow with that trigger otherwise.
"""


@dataclass(frozen=True, slots=True)
class Workflow:
    """An active workflow at the version the matcher knows."""

    tenant_id: str
    id: str
    version: int
    definition: WorkflowDefinition

    @property
    def trigger(self) -> TriggerType:
        return self.definition.trigger


class WorkflowIndex:
    """The latest version of every workflow of some tenants, indexed by tenant and trigger.

    ``apply`` accepts changelog records in any order and any number of times: the highest
    version of each workflow wins, and a version is remembered after the workflow is deleted or
    paused, so a late or repeated older record never brings it back.
    """

    def __init__(self) -> None:
        self._versions: dict[tuple[str, str], int] = {}
        self._indexed: dict[tuple[str, str], Workflow] = {}
        self._by_tenant: dict[str, dict[TriggerType, dict[str, Workflow]]] = {}

    def __len__(self) -> int:
        """The number of active workflows."""
        return len(self._indexed)

    def apply(self, change: WorkflowChange) -> bool:
        """Take ``change`` into account; False if a newer or equal version is already known."""
        key = (change.tenant_id, change.workflow_id)
        known = self._versions.get(key)
        if known is not None and known >= change.version:
            return False
        self._versions[key] = change.version
        self._unindex(key)
        definition = change.workflow
        if definition is not None and definition.status == "active":
            self._index(key, Workflow(*key, change.version, definition))
        return True

    def _index(self, key: tuple[str, str], workflow: Workflow) -> None:
        self._indexed[key] = workflow
        by_trigger = self._by_tenant.setdefault(workflow.tenant_id, {})
        by_trigger.setdefault(workflow.trigger, {})[workflow.id] = workflow

    def _unindex(self, key: tuple[str, str]) -> None:
        workflow = self._indexed.pop(key, None)
        if workflow is None:
            return
        by_trigger = self._by_tenant[workflow.tenant_id]
        workflows = by_trigger[workflow.trigger]
        del workflows[workflow.id]
        if not workflows:
            del by_trigger[workflow.trigger]
            if not by_trigger:
                del self._by_tenant[workflow.tenant_id]

    def matching(self, event: CloudEvent) -> list[Workflow]:
        """The active workflows of the event's tenant that ``event`` triggers and whose
        conditions its data meets."""
        return [
            workflow
            for workflow in self._triggered(event)
            if workflow.definition.conditions is None
            or evaluate(workflow.definition.conditions, event.data)
        ]

    def _triggered(self, event: CloudEvent) -> list[Workflow]:
        workflows = self._by_tenant.get(event.tenantid, {}).get(event.type)
        if not workflows:
            return []
        if event.type in TARGETED_TRIGGERS and (event.subject or event.type == "schedule.cron"):
            target = workflows.get(event.subject) if event.subject else None
            return [target] if target is not None else []
        return list(workflows.values())


def execution_requests(event: CloudEvent, workflows: Iterable[Workflow]) -> list[ExecutionRequest]:
    """One request per workflow, with the id that makes a redelivered event yield the same one."""
    return [
        ExecutionRequest(
            execution_id=execution_id_for(event, workflow.id, workflow.version),
            tenant_id=workflow.tenant_id,
            workflow_id=workflow.id,
            workflow_version=workflow.version,
            workflow=workflow.definition,
            event=event,
        )
        for workflow in workflows
    ]


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
