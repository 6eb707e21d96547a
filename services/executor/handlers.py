"""The executor's handlers: run one requested execution step by step, park what must wait,
end waiting executions whose exit conditions an event meets, dead-letter what cannot run.

They decide; the store, the action performers, the timers, the destination pauses, the failure
notifier and the dead-letter sink do the I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import ValidationError

from services.executor.domain import (
    ExecutionProgress,
    ExecutionStatus,
    RetryPolicy,
    StepError,
    StepOutcome,
    StepRecord,
    Timer,
    continued_error,
    deferred,
    destination_of,
    execution_error,
    finished_status,
    lease_timer,
    resume_point,
)
from shared.contracts import (
    CloudEvent,
    DeferralReason,
    DeferredExecution,
    ExecutionDeadLetter,
    ExecutionRequest,
)
from shared.contracts.errors import validation_details
from shared.contracts.workflows import Action
from shared.lifecycle import is_connection_error
from shared.workflows import ConditionGroup, evaluate
from shared.workflows.actions import DelayAction

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
Clock = Callable[[], datetime]

ActionRegistry = Mapping[str, PerformAction]
"""The performer of each action type, keyed by the action's ``type``. ``delay`` is not a
performer's: the engine parks the execution itself."""


class UnstorableInput(Exception):
    """The store refused what a request carries (PostgreSQL cannot hold it); the request is
    dead-lettered with this reason instead of failing again at every redelivery."""


class Undeliverable(Exception):
    """The broker refused a record the executor publishes (it is too large, say)."""


@dataclass(frozen=True, slots=True)
class Admission:
    """What the rate limit made of an execution: ``admitted``, ``dropped`` (recorded as
    throttled), ``queued`` (parked on ``timer``), or nothing because the lease was ``lost``."""

    verdict: Literal["admitted", "dropped", "queued", "lost"]
    timer: Timer | None = None


class ExecutionStore(Protocol):
    async def begin(
        self, request: ExecutionRequest, token: str, *, lease_seconds: float
    ) -> ExecutionProgress | None:
        """Record the execution as running unless it is recorded already, and take its lease
        for ``token`` if it is free and the execution may run now (it is running, or waiting on
        the timer ``request.resumption`` names); say where it stands.

        A new execution of a workflow without a rate limit is admitted at once. None when the
        execution id is recorded for another tenant.
        """

    def holds(self, token: str) -> bool:
        """Whether ``token``'s lease is still held (it is renewed while held)."""

    async def admit(self, request: ExecutionRequest, token: str, limit: int) -> Admission:
        """Count the execution against its workflow's ``limit`` per rolling hour, exactly across
        replicas, unless it is counted already; otherwise drop it (status throttled) or queue
        it (waiting, in order of ``requested_at``), as the workflow's ``throttleAction`` says."""

    async def resume(self, tenant_id: str, execution_id: str, token: str, timer: Timer) -> bool:
        """A waiting execution whose ``timer`` came due runs again (a ``delay`` step before
        ``timer.step`` is done). False when ``token`` lost the lease."""

    async def record_step(self, record: StepRecord, token: str) -> bool:
        """Store the outcome of a step; a step done for good is never overwritten. False when
        ``token`` lost the lease."""

    async def finish(
        self,
        tenant_id: str,
        execution_id: str,
        token: str,
        status: ExecutionStatus,
        error: Mapping[str, Any] | None,
        *,
        last_step: StepRecord | None = None,
    ) -> bool:
        """End the execution with ``status`` and release the lease, recording ``last_step`` in
        the same transaction. False when ``token`` lost the lease."""

    async def park(
        self,
        tenant_id: str,
        execution_id: str,
        token: str,
        reason: DeferralReason,
        step: int,
        due_at: datetime,
    ) -> Timer | None:
        """Mark the execution waiting on a new timer and release the lease. None when ``token``
        lost the lease."""

    async def release(self, tenant_id: str, execution_id: str, token: str) -> None:
        """Give up ``token``'s lease without changing anything else."""

    async def abandon(self, tenant_id: str, execution_id: str, error: Mapping[str, Any]) -> bool:
        """End an unfinished execution as failed with ``error``, whoever holds its lease (it
        cannot run at all). False when it is not recorded or already finished."""

    async def mark_dead_lettered(self, tenant_id: str, execution_id: str) -> None:
        """Note that the failed execution's dead letter was acknowledged."""

    async def mark_notified(self, tenant_id: str, execution_id: str) -> None:
        """Note that ``notifyOnFailure`` was told about the execution."""


class WaitingExecutions(Protocol):
    async def exitable(self, events: Sequence[CloudEvent]) -> list[WaitingExecution]:
        """Executions waiting on a ``delay`` or a ``queue``, with exit conditions, of the
        tenants and subjects of ``events``."""

    async def exit(self, execution: WaitingExecution, event: CloudEvent) -> bool:
        """End a waiting execution as exited by ``event``; False if it no longer waits."""


@dataclass(frozen=True, slots=True)
class WaitingExecution:
    tenant_id: str
    execution_id: str
    subject: str
    trigger_event_id: str
    begun_at: datetime
    exit_conditions: ConditionGroup


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """An event of ``events.normalized`` and when it was appended there."""

    event: CloudEvent
    appended_at: datetime


class Deferrals(Protocol):
    async def defer(self, parked: DeferredExecution) -> None:
        """Hand a parked execution to the durable timers; return once the broker acknowledged
        it. Raises ``Undeliverable`` when the broker refuses it for good."""


class DestinationPauses(Protocol):
    async def paused_until(self, tenant_id: str, destination: str) -> datetime | None:
        """Until when the tenant's calls to ``destination`` wait, if they do."""

    async def pause(self, tenant_id: str, destination: str, until: datetime) -> None:
        """Make every call of the tenant to ``destination`` wait until ``until`` (or later)."""


class FailureNotifier(Protocol):
    async def notify_failure(self, request: ExecutionRequest, error: Mapping[str, Any]) -> None:
        """Tell the workflow's ``errorHandling.notifyOnFailure`` addresses that the execution of
        ``request`` failed with ``error``, or went past failed steps (``succeeded_with_errors``:
        ``error`` is ``continued_error``'s, with ``failedSteps``). Called once per such
        execution: its return is recorded (``notified_at``), so a redelivery does not call it
        again. Raises when it could not tell them; nothing is recorded then, and a later
        redelivery of the request tries again."""


class DeadLetterSink(Protocol):
    async def dead_letter(self, letter: ExecutionDeadLetter, key: bytes | None) -> None:
        """Return once the broker acknowledged the dead letter."""


def new_token(owner: str) -> str:
    """A lease token: who holds it, and which run."""
    return f"{owner}/{uuid.uuid4().hex[:16]}"


def _system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Engine:
    """Everything one execution run needs; the composition root builds it once."""

    store: ExecutionStore
    actions: ActionRegistry
    dead_letters: DeadLetterSink
    deferrals: Deferrals
    pauses: DestinationPauses
    notifier: FailureNotifier
    retry: RetryPolicy
    owner: str = "executor"
    lease_seconds: float = 30.0
    sleep: Sleep = asyncio.sleep
    clock: Clock = _system_clock


@dataclass(slots=True)
class RunReport:
    """What one run of an execution came to, for metrics: the status reached now (None when
    nothing ran), retries made, why it parked, whether the rate limit held it back, and the
    destinations a rate-limit answer paused."""

    status: ExecutionStatus | None = None
    retries: int = 0
    parked: DeferralReason | None = None
    throttled: Literal["dropped", "queued"] | None = None
    paused: list[str] = field(default_factory=list)


async def accept_execution_record(
    value: bytes | None, key: bytes | None, engine: Engine
) -> RunReport:
    """One record of ``executions.requested``: run it, or dead-letter it if it does not decode
    or the store cannot hold what it carries. Never raises for anything in the record."""
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
        await engine.dead_letters.dead_letter(letter, key)
        return RunReport()
    return await run_execution(request, engine)


async def run_execution(request: ExecutionRequest, engine: Engine) -> RunReport:
    """Run the steps of ``request`` not yet done, in order, recording each before the next.

    Idempotent under redelivery: a finished execution does not run again (a failed one gets
    the dead letter and notification it may still lack), a waiting one runs only when its own
    timer hands it back, an unfinished one resumes at its first step not done. Only the holder
    of the execution's lease performs steps; a run that finds the lease held waits briefly and
    otherwise parks a timer to look again. What the store cannot hold, or the broker refuses to
    carry, fails the execution (if it is recorded) and is dead-lettered with the reason.
    Returns what this run came to.
    """
    token = new_token(engine.owner)
    try:
        progress = await _claim(request, token, engine)
        if progress is not None and progress.fresh and progress.status == "throttled":
            return RunReport(status="throttled", throttled="dropped")
        if progress is None or not progress.claimed:
            looks_again = progress is not None and progress.status == "running"
            return RunReport(parked="retry" if looks_again else None)
        return await _run_claimed(request, progress, token, engine)
    except (UnstorableInput, Undeliverable) as refused:
        code = "unstorable_request" if isinstance(refused, UnstorableInput) else "undeliverable"
        error = {"code": code, "message": str(refused)}
        log.warning(
            "execution cannot run",
            extra={"execution_id": request.execution_id, "code": code, "reason": str(refused)},
        )
        failed = False
        with contextlib.suppress(UnstorableInput):
            failed = await engine.store.abandon(request.tenant_id, request.execution_id, error)
        await _dead_letter(request, error, engine)
        if failed:
            await engine.store.mark_dead_lettered(request.tenant_id, request.execution_id)
        return RunReport(status="failed" if failed else None)
    except BaseException:
        # Cancelled (shutdown) or failed: let the next run take over at once.
        with contextlib.suppress(Exception):
            await asyncio.shield(
                engine.store.release(request.tenant_id, request.execution_id, token)
            )
        raise


async def _claim(request: ExecutionRequest, token: str, engine: Engine) -> ExecutionProgress | None:
    """The execution's progress, with its lease held by ``token`` when this run goes on; None,
    or a progress not claimed, when this run has nothing to do (handled here, including
    parking a look-again timer)."""
    deadline = time.monotonic() + engine.retry.inline_max_seconds
    while True:
        progress = await engine.store.begin(request, token, lease_seconds=engine.lease_seconds)
        if progress is None:
            await _dead_letter(
                request,
                {
                    "code": "execution_conflict",
                    "message": "the execution id belongs to another tenant",
                },
                engine,
            )
            return None
        if progress.final:
            await _settle(request, progress, engine)
            return progress
        if progress.status == "waiting" and not progress.waits_on(request.resumption):
            # A redelivery, or a stale timer: the execution waits on its own timer, handed
            # over again in case the run that parked it stopped before the broker's ack.
            if progress.timer is not None:
                await engine.deferrals.defer(deferred(request, progress.timer))
            return progress
        if progress.claimed:
            return progress
        # Another run holds the lease (a rebalance handed the request to two executors).
        poll = 0.1
        if time.monotonic() + poll > deadline:
            until = progress.lease_until or engine.clock()
            step = resume_point(progress.done_steps, len(request.workflow.actions))
            timer = lease_timer(request.execution_id, step, max(until, engine.clock()))
            await engine.deferrals.defer(deferred(request, timer))
            return progress
        await engine.sleep(poll)


async def _run_claimed(
    request: ExecutionRequest, progress: ExecutionProgress, token: str, engine: Engine
) -> RunReport:
    tenant, execution = request.tenant_id, request.execution_id
    done = set(progress.done_steps)
    timer = progress.timer if progress.status == "waiting" else None
    if timer is not None and timer.reason != "queue":
        if not await engine.store.resume(tenant, execution, token, timer):
            return RunReport()
        if timer.reason == "delay":
            done.add(timer.step - 1)
    limit = request.workflow.settings.max_executions_per_hour
    if not progress.admitted and limit is not None:
        admission = await engine.store.admit(request, token, limit)
        if admission.verdict == "dropped":
            return RunReport(status="throttled", throttled="dropped")
        if admission.verdict == "queued" and admission.timer is not None:
            await engine.deferrals.defer(deferred(request, admission.timer))
            return RunReport(status="waiting", parked="queue", throttled="queued")
        if admission.verdict != "admitted":
            return RunReport()
    return await _run_steps(request, progress, done, token, engine)


async def _run_steps(
    request: ExecutionRequest,
    progress: ExecutionProgress,
    done: set[int],
    token: str,
    engine: Engine,
) -> RunReport:
    """Run the steps from the first not done. Each step is recorded before the next begins; the
    last one is recorded with the execution's end, in one transaction."""
    report = RunReport()
    failed = set(progress.failed_steps)
    steps = request.workflow.actions
    index = resume_point(done, len(steps))
    last: StepRecord | None = None
    while index < len(steps):
        if not engine.store.holds(token):
            return report  # the lease was lost: its new holder goes on
        if last is not None and not await engine.store.record_step(last, token):
            return report
        attempts_before = progress.step_attempts.get(index, 0)
        ran = await _run_step(request, index, attempts_before, report, engine)
        if isinstance(ran, _Parked):
            if await engine.store.record_step(ran.record, token):
                await _park(request, token, ran.reason, ran.step, ran.due_at, report, engine)
            return report
        last = ran
        if ran.outcome.status == "failed":
            if request.workflow.error_handling.on_error != "continue":
                return await _fail(request, execution_error(ran), token, report, engine, ran)
            failed.add(index)
        done.add(index)
        index = resume_point(done, len(steps))
    status = finished_status(failed)
    error = continued_error(failed) if failed else None
    if await engine.store.finish(
        request.tenant_id, request.execution_id, token, status, error, last_step=last
    ):
        report.status = status
        if error is not None:
            await _notify(request, error, engine)
    return report


async def _run_step(
    request: ExecutionRequest,
    index: int,
    attempts_before: int,
    report: RunReport,
    engine: Engine,
) -> StepRecord | _Parked:
    """Run step ``index``: skipped, performed (with its retries), or waiting (a ``delay``, a
    long wait before the next attempt: the execution parks). Nothing is recorded here."""
    action = request.workflow.actions[index]
    started_at = engine.clock()
    if action.conditions is not None and not evaluate(action.conditions, request.event.data):
        return _record(request, index, action, StepOutcome.skipped(), started_at, engine)
    if isinstance(action, DelayAction):
        due_at = started_at + action.period
        waiting = StepOutcome(
            status="waiting",
            attempts=0,
            request={"duration": action.duration, "dueAt": due_at.isoformat()},
        )
        record = _record(request, index, action, waiting, started_at, engine)
        return _Parked(record, due_at, "delay", index + 1)
    outcome = await _attempt_step(request, index, action, attempts_before, report, engine)
    if isinstance(outcome, _Waits):
        record = _record(request, index, action, outcome.outcome, started_at, engine)
        return _Parked(record, outcome.due_at, "retry", index)
    return _record(request, index, action, outcome, started_at, engine)


@dataclass(frozen=True, slots=True)
class _Waits:
    """A step that waits for its next attempt, as its log shows it meanwhile, and until when."""

    outcome: StepOutcome
    due_at: datetime


@dataclass(frozen=True, slots=True)
class _Parked:
    """A step that waits in a durable timer (for its time, or its next attempt), as its log
    shows it meanwhile, and where the execution resumes."""

    record: StepRecord
    due_at: datetime
    reason: DeferralReason
    step: int


async def _attempt_step(
    request: ExecutionRequest,
    index: int,
    action: Action,
    attempts_before: int,
    report: RunReport,
    engine: Engine,
) -> StepOutcome | _Waits:
    """Attempt the step until it succeeds, fails for good or runs out of retries, waiting
    between attempts (or parking, when the wait is long); calls to a paused destination wait
    for the pause without counting as attempts. The outcome counts every attempt, those of
    earlier runs included."""
    perform = engine.actions.get(action.type)
    if perform is None:
        return StepOutcome.failed(
            "unsupported_action", f"no performer for action type {action.type!r}", attempts=0
        )
    retries = request.workflow.error_handling.retry_count
    destination = destination_of(action)
    attempts = attempts_before
    while True:
        if destination is not None:
            paused_until = await engine.pauses.paused_until(request.tenant_id, destination)
            wait = (paused_until - engine.clock()).total_seconds() if paused_until else 0.0
            if wait > 0:
                if engine.retry.parks(wait):
                    paused = StepOutcome.failed(
                        "destination_paused",
                        f"{destination} asked to wait until {paused_until}",
                        attempts=attempts,
                        destination=destination,
                    )
                    due_at = engine.clock() + timedelta(seconds=wait)
                    return _Waits(replace(paused, status="waiting"), due_at)
                await engine.sleep(wait)
                continue
        outcome = await _attempt(request, index, action, perform)
        attempts += outcome.attempts
        outcome = replace(outcome, attempts=attempts)
        if outcome.status != "failed" or not outcome.transient:
            return outcome
        if outcome.retry_after is not None:
            await _pause_destination(request, outcome, destination, report, engine)
        if attempts > retries:
            if retries == 0:
                return outcome
            error = outcome.error or StepError("transient_failure", "the step failed")
            return replace(outcome, error=StepError("retries_exhausted", error.message))
        report.retries += 1
        wait = engine.retry.wait_before(
            attempts,
            retry_after=outcome.retry_after,
            jitter=random.random(),  # noqa: S311 - jitter, not crypto
        )
        if engine.retry.parks(wait):
            due_at = engine.clock() + timedelta(seconds=wait)
            return _Waits(replace(outcome, status="waiting"), due_at)
        await engine.sleep(wait)


async def _pause_destination(
    request: ExecutionRequest,
    outcome: StepOutcome,
    destination: str | None,
    report: RunReport,
    engine: Engine,
) -> None:
    """A destination that named a time to come back (429 with ``Retry-After``, Slack's
    ``ratelimited``) is paused for every workflow of the tenant until then."""
    key = outcome.destination or destination
    if key is None or outcome.retry_after is None:
        return
    until = engine.clock() + timedelta(seconds=engine.retry.retry_after(outcome.retry_after))
    await engine.pauses.pause(request.tenant_id, key, until)
    report.paused.append(key)


async def _attempt(
    request: ExecutionRequest, index: int, action: Action, perform: PerformAction
) -> StepOutcome:
    try:
        return await perform(request, index, action)
    except Exception as error:
        if is_connection_error(error):
            # The executor's own tables (the record actions) are unreachable: an outage, not the
            # step's failure. The record is run again once the database is back.
            raise
        # A bug in one performer must not stop every other execution: the step fails
        # visibly, with the error, instead of crashing the consumer on every redelivery.
        log.exception(
            "action performer raised",
            extra={"execution_id": request.execution_id, "step": index},
        )
        return StepOutcome.failed("internal_error", repr(error), attempts=1)


def _record(
    request: ExecutionRequest,
    index: int,
    action: Action,
    outcome: StepOutcome,
    started_at: datetime,
    engine: Engine,
) -> StepRecord:
    return StepRecord(
        tenant_id=request.tenant_id,
        execution_id=request.execution_id,
        step_index=index,
        action_type=action.type,
        outcome=outcome,
        started_at=started_at,
        finished_at=engine.clock(),
    )


async def _park(
    request: ExecutionRequest,
    token: str,
    reason: DeferralReason,
    step: int,
    due_at: datetime,
    report: RunReport,
    engine: Engine,
) -> None:
    """Record the execution as waiting, then hand it to the durable timers (the offset is
    committed only after the broker's ack, so a crash in between hands it over again)."""
    timer = await engine.store.park(
        request.tenant_id, request.execution_id, token, reason, step, due_at
    )
    if timer is None:
        return
    await engine.deferrals.defer(deferred(request, timer))
    report.status = "waiting"
    report.parked = reason


async def _fail(
    request: ExecutionRequest,
    error: Mapping[str, Any],
    token: str,
    report: RunReport,
    engine: Engine,
    last_step: StepRecord | None = None,
) -> RunReport:
    """End the execution as failed (with its failed step), tell ``notifyOnFailure``,
    dead-letter it."""
    if not await engine.store.finish(
        request.tenant_id, request.execution_id, token, "failed", error, last_step=last_step
    ):
        return report
    report.status = "failed"
    await _notify(request, error, engine)
    await _dead_letter(request, error, engine)
    await engine.store.mark_dead_lettered(request.tenant_id, request.execution_id)
    return report


async def _settle(request: ExecutionRequest, progress: ExecutionProgress, engine: Engine) -> None:
    """What a finished execution may still owe after a crash: its notification, its dead
    letter."""
    if progress.status not in ("failed", "succeeded_with_errors"):
        return
    error = progress.error or {}
    if not progress.notified:
        await _notify(request, error, engine)
    if progress.status == "failed" and not progress.dead_lettered:
        await _dead_letter(request, error, engine)
        await engine.store.mark_dead_lettered(request.tenant_id, request.execution_id)


async def _notify(request: ExecutionRequest, error: Mapping[str, Any], engine: Engine) -> None:
    """Tell ``notifyOnFailure`` once: the notification is recorded when it was sent, so a
    redelivery does not send it again (one that failed is tried again at the next one)."""
    if not request.workflow.error_handling.notify_on_failure:
        return
    try:
        await engine.notifier.notify_failure(request, error)
    except Exception:
        log.exception("failure notification not sent", extra={"execution_id": request.execution_id})
        return
    await engine.store.mark_notified(request.tenant_id, request.execution_id)


async def _dead_letter(request: ExecutionRequest, error: Mapping[str, Any], engine: Engine) -> None:
    letter = ExecutionDeadLetter(request=request, error=dict(error))
    await engine.dead_letters.dead_letter(letter, request.workflow_id.encode())


async def end_waiting_executions(
    received: Sequence[ReceivedEvent], waiting: WaitingExecutions
) -> int:
    """Exit conditions (seed 001): each waiting execution of the events' tenants and subjects
    whose exit conditions an event meets ends as exited, recorded with that event. Only events
    appended after the execution began count, so neither the event that started it nor an older
    one read again ends it. Returns how many executions ended."""
    received = [item for item in received if item.event.subject is not None]
    if not received:
        return 0
    by_subject: dict[tuple[str, str | None], list[ReceivedEvent]] = {}
    for item in received:
        by_subject.setdefault((item.event.tenantid, item.event.subject), []).append(item)
    ended = 0
    for execution in await waiting.exitable([item.event for item in received]):
        for item in by_subject.get((execution.tenant_id, execution.subject), []):
            if (
                item.event.id == execution.trigger_event_id
                or item.appended_at <= execution.begun_at
            ):
                continue
            if evaluate(execution.exit_conditions, item.event.data):
                ended += await waiting.exit(execution, item.event)
                break
    return ended
