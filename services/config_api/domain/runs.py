"""Run now, the runs page across workflows, and a workflow's stats strip (seed 003).

A manual run is an ``ExecutionRequest`` the config API writes itself: a ``workflow.triggered``
event naming the workflow (``subject``), for the workflow at its current version, straight onto
``executions.requested`` (through the outbox). It never passes through ``events.normalized``,
so the matcher cannot start other workflows with it, and its execution id is known before the
answer. The workflow's conditions apply, with the same evaluator the matcher uses.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError

from services.config_api.domain.executions import EXECUTION_STATUSES
from services.config_api.domain.inputs import Conflict, InvalidInput, validation_details
from services.config_api.domain.workflows import WorkflowRecord
from shared.contracts import CloudEvent, ExecutionRequest, TriggerType, execution_id_for
from shared.contracts.envelope import MAX_DATA_DEPTH
from shared.contracts.storable import storage_problems
from shared.workflows import explain

REQUESTS_TOPIC: Final = "executions.requested"
"""Logical name stored in the outbox; the relay adds ``TOPIC_PREFIX``."""

MANUAL_TRIGGER: Final = "workflow.triggered"

FINISHED_STATUSES: Final = ("succeeded", "succeeded_with_errors", "failed", "throttled", "exited")
COMPLETED_STATUSES: Final = ("succeeded", "succeeded_with_errors", "failed")
"""The runs that performed their steps to an end: what success rate and durations are over."""

STATS_WINDOWS: Final = {
    "24h": timedelta(hours=24),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
TRIGGER_TYPES: Final = tuple(get_args(TriggerType))


class RunRequest(BaseModel):
    """``POST /api/workflows/{id}/run``: ``{"data": {...}, "force": false}``, both optional."""

    model_config = ConfigDict(extra="forbid")

    data: dict[str, Any] = Field(
        default_factory=dict, description="the event's `data`, as the trigger's event carries it"
    )
    force: StrictBool = Field(default=False, description="run a paused workflow too")


class DataTooLarge(Exception):
    """A run's ``data`` is larger than the API accepts (413)."""

    def __init__(self, size: int, maximum: int) -> None:
        super().__init__(f"`data` is {size} bytes of JSON; at most {maximum} are accepted")
        self.details = [{"path": "$.data", "message": f"at most {maximum} bytes of JSON"}]


class ConditionsNotMet(Exception):
    """The workflow's conditions are false for the run's data: nothing runs (422)."""

    def __init__(self, details: list[dict[str, str]]) -> None:
        super().__init__("the workflow's conditions are not met by `data`; nothing was run")
        self.details = details


class NotRunnable(Conflict):
    """The workflow's status does not let it run now (409): ``workflow_paused`` (``force``
    runs it) or ``workflow_not_active`` (a draft or archived workflow never runs)."""

    def __init__(self, code: str, message: str, details: list[dict[str, str]]) -> None:
        super().__init__(message, details)
        self.code = code


def parse_run(body: object, *, max_data_bytes: int) -> RunRequest:
    """The run request; raises ``InvalidInput`` naming the field, ``DataTooLarge``."""
    try:
        run = RunRequest.model_validate(body if body is not None else {})
    except ValidationError as error:
        raise InvalidInput("the run request is invalid", validation_details(error)) from None
    problems = storage_problems(run.data, path="$.data", max_depth=MAX_DATA_DEPTH)
    if problems:
        raise InvalidInput("the run request is invalid", problems)
    size = len(json.dumps(run.data, separators=(",", ":"), ensure_ascii=False).encode())
    if size > max_data_bytes:
        raise DataTooLarge(size, max_data_bytes)
    return run


def _check_runnable(record: WorkflowRecord, force: bool) -> None:
    status = record.definition.status
    if status == "active" or (status == "paused" and force):
        return
    if status == "paused":
        raise NotRunnable(
            "workflow_paused",
            'the workflow is paused; send `"force": true` to run it anyway',
            [{"path": "$.force", "message": "the workflow is paused: true runs it anyway"}],
        )
    raise NotRunnable(
        "workflow_not_active",
        f"a {status} workflow does not run; activate it first",
        [{"path": "workflow.status", "message": f"is {status}; only active or paused run"}],
    )


def _check_conditions(record: WorkflowRecord, data: dict[str, Any]) -> None:
    conditions = record.definition.conditions
    if conditions is None:
        return
    explained = explain(conditions, data, path="$.conditions")
    if explained.result:
        return
    raise ConditionsNotMet(
        [
            {
                "path": f"$.data.{rule['field']}",
                "message": f"{rule['path']}: {rule['field']} {rule['operator']} "
                f"{json.dumps(rule['value'])} is false (actual: {json.dumps(rule['actual'])})",
            }
            for rule in explained.rules
            if not rule["result"]
        ]
    )


def plan_run(
    record: WorkflowRecord, run: RunRequest, *, actor: str, now: datetime
) -> ExecutionRequest:
    """The request that runs ``record`` at its current version for ``run.data``.

    Raises ``NotRunnable`` (paused without ``force``, draft, archived) and ``ConditionsNotMet``.
    The event is new each time (a fresh id), so each call is a run of its own.
    """
    _check_runnable(record, run.force)
    _check_conditions(record, run.data)
    event = CloudEvent(
        id=f"run_{uuid.uuid4().hex}",
        source=f"config-api:{actor}",
        type=MANUAL_TRIGGER,
        time=now,
        tenantid=record.tenant_id,
        subject=record.id,
        data=run.data,
    )
    return ExecutionRequest(
        execution_id=execution_id_for(event, record.id, record.version),
        tenant_id=record.tenant_id,
        workflow_id=record.id,
        workflow_version=record.version,
        workflow=record.definition,
        event=event,
        requested_at=now,
    )


def run_accepted(request: ExecutionRequest, *, forced: bool) -> dict[str, Any]:
    """The 202 answer (and the audit row's ``after``)."""
    return {
        "executionId": request.execution_id,
        "workflowId": request.workflow_id,
        "workflowVersion": request.workflow_version,
        "eventId": request.event.id,
        "forced": forced,
        "requestedAt": request.requested_at.isoformat(),
    }


# --- the runs page -------------------------------------------------------------------------


def _moment(raw: str | None, name: str) -> datetime | None:
    if raw is None:
        return None
    try:
        moment = datetime.fromisoformat(raw)
        if moment.tzinfo is None:
            raise ValueError("no offset")
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput(
            "invalid filter",
            [{"path": f"query.{name}", "message": "an ISO 8601 date-time with an offset"}],
        ) from None


@dataclass(frozen=True, slots=True)
class RunFilters:
    """What ``GET /api/executions`` narrows to; None is no filter. ``since``/``until``: runs
    started at or after ``from`` and before ``to``."""

    status: str | None = None
    workflow_id: str | None = None
    trigger: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_run_filters(
    *,
    status: str | None,
    workflow: str | None,
    trigger: str | None,
    since: str | None,
    until: str | None,
) -> RunFilters:
    """Raises ``InvalidInput`` naming the query parameter at fault."""
    if status is not None and status not in EXECUTION_STATUSES:
        raise InvalidInput(
            "invalid filter",
            [{"path": "query.status", "message": f"one of {list(EXECUTION_STATUSES)}"}],
        )
    if trigger is not None and trigger not in TRIGGER_TYPES:
        raise InvalidInput(
            "invalid filter",
            [{"path": "query.trigger", "message": f"one of {list(TRIGGER_TYPES)}"}],
        )
    if workflow is not None and not 1 <= len(workflow) <= 256:
        raise InvalidInput(
            "invalid filter", [{"path": "query.workflow", "message": "a workflow id"}]
        )
    start, end = _moment(since, "from"), _moment(until, "to")
    if start is not None and end is not None and end <= start:
        raise InvalidInput(
            "invalid filter", [{"path": "query.to", "message": "must be later than `from`"}]
        )
    return RunFilters(status, workflow, trigger, start, end)


@dataclass(frozen=True, slots=True)
class RunRow:
    """One execution as the runs page lists it."""

    id: str
    workflow_id: str
    workflow_name: str | None
    workflow_version: int
    trigger: str
    event_type: str | None
    status: str
    created_at: datetime
    finished_at: datetime | None
    first_error: Any

    @property
    def duration_ms(self) -> int | None:
        if self.finished_at is None:
            return None
        return round((self.finished_at - self.created_at).total_seconds() * 1000)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflowId": self.workflow_id,
            "workflowName": self.workflow_name,
            "workflowVersion": self.workflow_version,
            "trigger": self.trigger,
            "eventType": self.event_type,
            "status": self.status,
            "startedAt": self.created_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
            "durationMs": self.duration_ms,
            "firstError": self.first_error,
        }


# --- the stats strip -----------------------------------------------------------------------


def parse_window(raw: str | None) -> str:
    """``24h`` (the default), ``7d`` or ``30d``."""
    window = raw if raw is not None else "24h"
    if window not in STATS_WINDOWS:
        raise InvalidInput(
            "invalid window", [{"path": "query.window", "message": f"one of {list(STATS_WINDOWS)}"}]
        )
    return window


@dataclass(frozen=True, slots=True)
class LastRun:
    id: str
    status: str
    created_at: datetime
    finished_at: datetime | None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "startedAt": self.created_at.isoformat(),
            "finishedAt": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True, slots=True)
class WorkflowStats:
    """A workflow's runs started in ``[since, until)``; ``by_status`` counts every status."""

    workflow_id: str
    window: str
    since: datetime
    until: datetime
    by_status: dict[str, int]
    median_ms: float | None
    p95_ms: float | None
    last_run: LastRun | None

    @property
    def runs(self) -> int:
        return sum(self.by_status.values())

    @property
    def success_rate(self) -> float | None:
        completed = sum(self.by_status.get(status, 0) for status in COMPLETED_STATUSES)
        return self.by_status.get("succeeded", 0) / completed if completed else None

    def to_api(self) -> dict[str, Any]:
        return {
            "workflowId": self.workflow_id,
            "window": self.window,
            "from": self.since.isoformat(),
            "to": self.until.isoformat(),
            "runs": self.runs,
            "successRate": self.success_rate,
            "durationMs": {"median": self.median_ms, "p95": self.p95_ms},
            "throttled": self.by_status.get("throttled", 0),
            "failed": self.by_status.get("failed", 0),
            "byStatus": {status: self.by_status.get(status, 0) for status in EXECUTION_STATUSES},
            "lastRun": self.last_run.to_api() if self.last_run else None,
        }
