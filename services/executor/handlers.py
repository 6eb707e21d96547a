"""The executor's handlers: run one requested execution step by step, dead-letter what cannot run.

They decide; the store, the action performers and the dead-letter sink do the I/O.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from services.executor.domain import (
    ExecutionProgress,
    ExecutionStatus,
    RetryPolicy,
    StepError,
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
"""Make ONE attempt at action ``step_index`` of an execution.

Returns the outcome, failed ones included, with ``transient`` set when another attempt may
succeed (and ``retry_after`` when the destination said when). Retrying is never the performer's
business: the engine (``run_execution``) decides whether, when and how often. Every attempt of
a step must carry the same idempotency key (execution id + step index). Cancellation propagates
(nothing is recorded and the request is redelivered); any other exception fails the step as
``internal_error``.
"""

Sleep = Callable[[float], Awaitable[None]]

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


class FailureNotifier(Protocol):
    async def notify_failure(self, request: ExecutionRequest, error: Mapping[str, Any]) -> None:
        """Tell the workflow's ``errorHandling.notifyOnFailure`` addresses that the execution of
        ``request`` failed with ``error``. Called once, when the execution fails (not for a
        redelivery of an execution that had failed already); must not raise."""


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
    retry: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    notifier: FailureNotifier | None = None,
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
    return await run_execution(
        request,
        store=store,
        actions=actions,
        dead_letters=dead_letters,
        retry=retry,
        sleep=sleep,
        notifier=notifier,
    )


async def run_execution(
    request: ExecutionRequest,
    *,
    store: ExecutionStore,
    actions: ActionRegistry,
    dead_letters: DeadLetterSink,
    retry: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    notifier: FailureNotifier | None = None,
) -> ExecutionStatus | None:
    """Run the steps of ``request`` not yet succeeded, in order, recording each before the next.

    A step whose attempt failed transiently is tried again per ``retry`` (backoff with jitter,
    the destination's ``Retry-After`` honoured), bounded by attempts and total time.

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
        record = await _perform_step(request, index, steps[index], actions, retry, sleep)
        await store.record_step(record)
        if record.outcome.status == "failed":
            error = execution_error(record)
            await store.finish(request.tenant_id, request.execution_id, "failed", error)
            await _dead_letter(request, error, dead_letters)
            await store.mark_dead_lettered(request.tenant_id, request.execution_id)
            if notifier is not None:
                await notifier.notify_failure(request, error)
            return "failed"
    await store.finish(request.tenant_id, request.execution_id, "succeeded", None)
    return "succeeded"


async def _perform_step(
    request: ExecutionRequest,
    index: int,
    action: Action,
    actions: ActionRegistry,
    retry: RetryPolicy,
    sleep: Sleep,
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
        outcome = await _attempt_until_done(request, index, action, perform, retry, sleep)
    return StepRecord(
        tenant_id=request.tenant_id,
        execution_id=request.execution_id,
        step_index=index,
        action_type=action.type,
        outcome=outcome,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )


async def _attempt_until_done(
    request: ExecutionRequest,
    index: int,
    action: Action,
    perform: PerformAction,
    retry: RetryPolicy,
    sleep: Sleep,
) -> StepOutcome:
    """Attempt the step until it succeeds, fails for good, or ``retry`` is spent; the outcome
    counts every attempt, and a transient failure left at the end is ``retries_exhausted``."""
    deadline = time.monotonic() + retry.timeout_seconds
    attempts = 0
    while True:
        outcome = await _attempt(request, index, action, perform)
        attempts += outcome.attempts
        if outcome.status != "failed" or not outcome.transient:
            break
        wait = retry.wait_before(
            attempts,
            retry_after=outcome.retry_after,
            jitter=random.random(),  # noqa: S311 - jitter, not crypto
        )
        if attempts >= retry.attempts or time.monotonic() + wait > deadline:
            error = outcome.error or StepError("transient_failure", "the step failed")
            outcome = replace(outcome, error=StepError("retries_exhausted", error.message))
            break
        await sleep(wait)
    return replace(outcome, attempts=attempts)


async def _attempt(
    request: ExecutionRequest, index: int, action: Action, perform: PerformAction
) -> StepOutcome:
    try:
        return await perform(request, index, action)
    except Exception as error:
        # A bug in one performer must not stop every other execution: the step fails
        # visibly, with the error, instead of crashing the consumer on every redelivery.
        log.exception(
            "action performer raised",
            extra={"execution_id": request.execution_id, "step": index},
        )
        return StepOutcome.failed("internal_error", repr(error), attempts=1)


async def _dead_letter(
    request: ExecutionRequest, error: Mapping[str, Any], dead_letters: DeadLetterSink
) -> None:
    letter = ExecutionDeadLetter(request=request, error=dict(error))
    await dead_letters.dead_letter(letter, request.workflow_id.encode())
