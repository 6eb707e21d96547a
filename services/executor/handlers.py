"""The executor's handlers: run one requested execution step by step, dead-letter what cannot run.

They decide; the store, the action performers and the dead-letter sink do the I/O.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from services.executor.domain import (
    ExecutionProgress,
    ExecutionStatus,
    StepOutcome,
    StepRecord,
    execution_error,
    resume_point,
)
from shared.contracts import ExecutionDeadLetter, ExecutionRequest
from shared.contracts.errors import validation_details
from shared.contracts.workflows import Action
from shared.workflows import evaluate

log = logging.getLogger(__name__)

PerformAction = Callable[[ExecutionRequest, int, Action], Awaitable[StepOutcome]]
"""Perform action ``step_index`` of an execution.

Returns the outcome, failed ones included. Cancellation propagates (nothing is recorded and the
request is redelivered); any other exception fails the step as ``internal_error``.
"""

ActionRegistry = Mapping[str, PerformAction]
"""The performer of each action type, keyed by the action's ``type``."""


class ExecutionStore(Protocol):
    async def open(self, request: ExecutionRequest) -> ExecutionProgress | None:
        """Record the execution as running unless it is recorded already; say where it stands.

        None when the execution id is recorded for another tenant.
        """

    async def record_step(self, record: StepRecord) -> None:
        """Store the outcome of a step; a step that succeeded is never overwritten."""

    async def finish(
        self,
        tenant_id: str,
        execution_id: str,
        status: ExecutionStatus,
        error: Mapping[str, Any] | None,
    ) -> None:
        """Mark a running execution succeeded or failed."""

    async def mark_dead_lettered(self, tenant_id: str, execution_id: str) -> None:
        """Note that the failed execution's dead letter was acknowledged."""


class DeadLetterSink(Protocol):
    async def dead_letter(self, letter: ExecutionDeadLetter, key: bytes | None) -> None:
        """Return once the broker acknowledged the dead letter."""


async def accept_execution_record(
    value: bytes | None,
    key: bytes | None,
    *,
    store: ExecutionStore,
    actions: ActionRegistry,
    dead_letters: DeadLetterSink,
) -> ExecutionStatus | None:
    """One record of ``executions.requested``: run it, or dead-letter it if it does not decode.

    Returns the status the execution reached now, or None when nothing ran (a redelivery of a
    finished execution, or a record that was dead-lettered).
    """
    try:
        if value is None:
            raise ValueError("the record has no value")
        request = ExecutionRequest.model_validate_json(value)
    except (ValidationError, ValueError) as error:
        details = validation_details(error) if isinstance(error, ValidationError) else []
        letter = ExecutionDeadLetter(
            request=None,
            received=(value or b"").decode("utf-8", errors="replace"),
            error={
                "code": "invalid_request",
                "message": "the record is not an execution request",
                "details": details,
            },
        )
        await dead_letters.dead_letter(letter, key)
        return None
    return await run_execution(request, store=store, actions=actions, dead_letters=dead_letters)


async def run_execution(
    request: ExecutionRequest,
    *,
    store: ExecutionStore,
    actions: ActionRegistry,
    dead_letters: DeadLetterSink,
) -> ExecutionStatus | None:
    """Run the steps of ``request`` not yet succeeded, in order, recording each before the next.

    Idempotent under redelivery: a finished execution is not run again (a failed one whose dead
    letter was not acknowledged gets it sent now), an unfinished one resumes at its first step
    without success. Returns the status reached now, or None when nothing ran.
    """
    progress = await store.open(request)
    if progress is None:
        await _dead_letter(
            request,
            {"code": "execution_conflict", "message": "the execution id belongs to another tenant"},
            dead_letters,
        )
        return None
    if progress.status != "running":
        if progress.status == "failed" and not progress.dead_lettered:
            await _dead_letter(request, progress.error or {}, dead_letters)
            await store.mark_dead_lettered(request.tenant_id, request.execution_id)
        return None

    steps = request.workflow.actions
    for index in range(resume_point(progress.done_steps, len(steps)), len(steps)):
        record = await _perform_step(request, index, steps[index], actions)
        await store.record_step(record)
        if record.outcome.status == "failed":
            error = execution_error(record)
            await store.finish(request.tenant_id, request.execution_id, "failed", error)
            await _dead_letter(request, error, dead_letters)
            await store.mark_dead_lettered(request.tenant_id, request.execution_id)
            return "failed"
    await store.finish(request.tenant_id, request.execution_id, "succeeded", None)
    return "succeeded"


async def _perform_step(
    request: ExecutionRequest, index: int, action: Action, actions: ActionRegistry
) -> StepRecord:
    started_at = datetime.now(UTC)
    perform = actions.get(action.type)
    if action.conditions is not None and not evaluate(action.conditions, request.event.data):
        outcome = StepOutcome.skipped()
    elif perform is None:
        outcome = StepOutcome.failed(
            "unsupported_action", f"no performer for action type {action.type!r}", attempts=0
        )
    else:
        try:
            outcome = await perform(request, index, action)
        except Exception as error:
            # A bug in one performer must not stop every other execution: the step fails
            # visibly, with the error, instead of crashing the consumer on every redelivery.
            log.exception(
                "action performer raised",
                extra={"execution_id": request.execution_id, "step": index},
            )
            outcome = StepOutcome.failed("internal_error", repr(error), attempts=1)
    return StepRecord(
        tenant_id=request.tenant_id,
        execution_id=request.execution_id,
        step_index=index,
        action_type=action.type,
        outcome=outcome,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )


async def _dead_letter(
    request: ExecutionRequest, error: Mapping[str, Any], dead_letters: DeadLetterSink
) -> None:
    letter = ExecutionDeadLetter(request=request, error=dict(error))
    await dead_letters.dead_letter(letter, request.workflow_id.encode())
