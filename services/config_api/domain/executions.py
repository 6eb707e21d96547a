"""Executions and their step logs as the API shows them (the executor writes and publishes them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

EXECUTION_STATUSES = ("running", "succeeded", "failed")
"""The statuses the executor's ``executions`` table allows (its CHECK constraint)."""


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One action of an execution: what was sent, how often, and how it ended."""

    step_index: int
    action_type: str
    status: str
    attempts: int
    request: Any
    response_status: int | None
    error: Any
    started_at: datetime
    finished_at: datetime
    result: Any = None

    def to_api(self) -> dict[str, Any]:
        return {
            "stepIndex": self.step_index,
            "actionType": self.action_type,
            "status": self.status,
            "attempts": self.attempts,
            "request": self.request,
            "responseStatus": self.response_status,
            "error": self.error,
            "result": self.result or {},
            "startedAt": self.started_at.isoformat(),
            "finishedAt": self.finished_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One run of one workflow version for one event; ``steps`` only when asked for."""

    id: str
    workflow_id: str
    workflow_version: int
    trigger: str
    event: Any
    status: str
    error: Any
    created_at: datetime
    finished_at: datetime | None
    deadlettered_at: datetime | None
    steps: tuple[StepRecord, ...] | None = None

    def to_api(self) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "workflowId": self.workflow_id,
            "workflowVersion": self.workflow_version,
            "trigger": self.trigger,
            "status": self.status,
            "error": self.error,
            "event": self.event,
            "createdAt": self.created_at.isoformat(),
            "finishedAt": _iso(self.finished_at),
            "deadletteredAt": _iso(self.deadlettered_at),
        }
        if self.steps is not None:
            shown["steps"] = [step.to_api() for step in self.steps]
        return shown
