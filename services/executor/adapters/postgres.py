"""The executor's tables: executions and their step logs, rate-limit admissions, leases, exits,
and destination pauses. PostgreSQL is the one authority every replica shares.

What PostgreSQL refuses to store (a data error, an index row too large) is ``UnstorableInput``:
the handler dead-letters the request instead of failing on it at every redelivery. What the
executor writes itself (step logs, errors) is made storable first.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import ValidationError

from services.executor.adapters.batching import Batched
from services.executor.domain import (
    RATE_LIMIT_WINDOW,
    REQUEUE_AT_LEAST,
    ExecutionProgress,
    ExecutionStatus,
    StepRecord,
    Timer,
    queue_due_at,
    queue_slot,
)
from services.executor.handlers import (
    Admission,
    DestinationPauses,
    ExecutionStore,
    UnstorableInput,
    WaitingExecution,
    WaitingExecutions,
)
from shared.contracts import CloudEvent, DeferralReason, ExecutionRequest
from shared.contracts.storable import storable_copy, storable_text
from shared.lifecycle import BackgroundLoop, is_connection_error
from shared.postgres import Pool, Queries, apply_migrations
from shared.workflows import ConditionGroup

log = logging.getLogger(__name__)

_QUERIES = Queries.load("services.executor")
_CLOCK_MARGIN = timedelta(milliseconds=100)
_ISOLATE = (UnstorableInput, asyncpg.DeadlockDetectedError)
"""What makes a batch run item by item: an item the database refuses spoils the statement, and
a deadlock (statements lock rows in id order, but other writers may not) is not retried whole."""


async def migrate(pool: Pool) -> None:
    await apply_migrations(pool, owner="executor", package="services.executor")


@contextlib.asynccontextmanager
async def _refusals_as_unstorable() -> AsyncIterator[None]:
    try:
        yield
    except (asyncpg.DataError, asyncpg.ProgramLimitExceededError) as refused:
        raise UnstorableInput(f"PostgreSQL refused it: {storable_text(str(refused))}") from refused


class Leases:
    """The lease tokens this process holds, and which of them were lost (their lease expired
    and could not be renewed: another run may hold the execution now)."""

    def __init__(self) -> None:
        self._held: set[str] = set()

    def hold(self, token: str) -> None:
        self._held.add(token)

    def drop(self, token: str) -> None:
        self._held.discard(token)

    def holds(self, token: str) -> bool:
        return token in self._held

    @property
    def tokens(self) -> list[str]:
        return list(self._held)


class LeaseRenewal(BackgroundLoop):
    """Renews every lease this process holds, well before it expires (a third of its length),
    so that a long step keeps its execution; a token whose lease is gone is dropped."""

    def __init__(self, pool: Pool, leases: Leases, *, lease_seconds: float) -> None:
        super().__init__(name="lease-renewal", grace_seconds=5.0)
        self._pool = pool
        self._leases = leases
        self._lease_seconds = lease_seconds

    async def iteration(self) -> None:
        await self.pause(self._lease_seconds / 3)
        tokens = self._leases.tokens
        if not tokens or self.stopping:
            return
        try:
            rows = await self._pool.fetch(_QUERIES.renew_leases, tokens, self._lease_seconds)
        except Exception as error:
            # Any outage (asyncpg reports some as InterfaceError, a pool's as TimeoutError), or
            # the server refusing: tried again at the next round, well within the lease.
            if not (is_connection_error(error) or isinstance(error, asyncpg.PostgresError)):
                raise
            log.warning("leases not renewed", extra={"error": repr(error)})
            return
        kept = {row["claimed_by"] for row in rows}
        for token in tokens:
            if token not in kept:
                self._leases.drop(token)


def _progress(
    row: asyncpg.Record, steps: Sequence[asyncpg.Record], request: ExecutionRequest
) -> ExecutionProgress:
    continues = request.workflow.error_handling.on_error == "continue"
    done = {s["step_index"] for s in steps if s["status"] in ("succeeded", "skipped")}
    failed = {s["step_index"] for s in steps if s["status"] == "failed"}
    timer = None
    if row["status"] == "waiting" and row["timer_id"] is not None:
        timer = Timer(row["timer_id"], row["wait_reason"], row["resume_step"], row["due_at"])
    return ExecutionProgress(
        status=row["status"],
        lease_until=row["lease_until"],
        done_steps=frozenset(done | failed) if continues else frozenset(done),
        failed_steps=frozenset(failed) if continues else frozenset(),
        step_attempts={s["step_index"]: s["attempts"] for s in steps if s["status"] == "waiting"},
        admitted=row["admitted"],
        timer=timer,
        error=row["error"],
        dead_lettered=row["deadlettered_at"] is not None,
        notified=row["notified_at"] is not None,
    )


def _step_arguments(record: StepRecord) -> tuple[Any, ...]:
    """The step's columns, in the order of ``record_step``'s parameters, made storable."""
    outcome = record.outcome
    error = outcome.error
    return (
        record.execution_id,
        record.tenant_id,
        record.step_index,
        record.action_type,
        outcome.status,
        outcome.attempts,
        storable_copy(dict(outcome.request)),
        outcome.response_status,
        {"code": error.code, "message": storable_text(error.message)}
        if error is not None
        else None,
        storable_copy(dict(outcome.result)),
        record.started_at,
        record.finished_at,
    )


_AdmissionKey = tuple[str, str, int, str]


@dataclass(frozen=True, slots=True)
class _HeldBack:
    """A workflow's runs are held back by its limit ``until`` at least: its window is ``full``,
    or its queue waits. ``window`` holds its admissions in the rolling hour as the last check
    under the lock saw them, oldest first."""

    until: datetime
    window: tuple[datetime, ...]
    full: bool

    def queue_due_at(self, now: datetime, limit: int, ahead: int) -> datetime:
        """When a run with ``ahead`` queued before it looks again (``queue_slot``)."""
        start = bisect.bisect_right(self.window, now - RATE_LIMIT_WINDOW)
        window = self.window[start:]
        kth, hours = queue_slot(len(window), limit, ahead)
        return queue_due_at(now, window[kth - 1] if kth >= 1 else None, hours)


def _admission_key(request: ExecutionRequest, limit: int) -> _AdmissionKey:
    """Whose admissions are held back together: a workflow at a limit and a throttle action."""
    return (
        request.tenant_id,
        request.workflow_id,
        limit,
        request.workflow.settings.throttle_action,
    )


@dataclass(frozen=True, slots=True)
class _NewExecution:
    """The columns of a new execution, made once from its request, and its first lease."""

    columns: tuple[Any, ...]
    token: str
    lease_seconds: float

    @classmethod
    def of(
        cls, request: ExecutionRequest, token: str, lease_seconds: float, *, dropped: bool
    ) -> _NewExecution:
        workflow = request.workflow
        exit_conditions = (
            workflow.exit_conditions.model_dump(mode="json", by_alias=True)
            if workflow.exit_conditions is not None
            else None
        )
        columns = (
            request.execution_id,
            request.tenant_id,
            request.workflow_id,
            request.workflow_version,
            workflow.trigger,
            request.event.model_dump(mode="json"),
            request.event.subject,
            request.requested_at,
            exit_conditions,
            workflow.settings.max_executions_per_hour is None,
            dropped,
        )
        return cls(columns, token, lease_seconds)


@dataclass(frozen=True, slots=True)
class _Ending:
    """An execution's last step and its end, recorded together."""

    step: StepRecord
    token: str
    status: ExecutionStatus
    error: Any

    @property
    def columns(self) -> tuple[Any, ...]:
        return (*_step_arguments(self.step), self.token, self.status, self.error)


class PostgresExecutionStore(ExecutionStore, WaitingExecutions):
    """The store. Executions begun and ended at about the same moment share their statements
    (``Batched``): a commit each for many of them."""

    def __init__(self, pool: Pool, leases: Leases | None = None) -> None:
        self._pool = pool
        self.leases = leases or Leases()
        self._insert = Batched(self._insert_many, self._insert_one, isolate_on=_ISOLATE)
        self._held: dict[_AdmissionKey, _HeldBack] = {}
        self._admission_locks: weakref.WeakValueDictionary[_AdmissionKey, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self._end = Batched(self._end_many, self._end_one, isolate_on=_ISOLATE)

    def holds(self, token: str) -> bool:
        return self.leases.holds(token)

    async def begin(
        self, request: ExecutionRequest, token: str, *, lease_seconds: float
    ) -> ExecutionProgress | None:
        settings = request.workflow.settings
        dropped = (
            settings.throttle_action == "drop"
            and settings.max_executions_per_hour is not None
            and self._held_back(_admission_key(request, settings.max_executions_per_hour))
        )
        row = await self._insert(_NewExecution.of(request, token, lease_seconds, dropped=dropped))
        if row is not None:
            if row["status"] == "throttled":
                return ExecutionProgress(status="throttled", fresh=True, admitted=False)
            self.leases.hold(token)
            return ExecutionProgress(
                status="running",
                claimed=True,
                fresh=True,
                lease_until=row["lease_until"],
                admitted=row["admitted"],
            )
        async with (
            _refusals_as_unstorable(),
            self._pool.acquire() as connection,
            connection.transaction(),
        ):
            return await self._claim(connection, request, token, lease_seconds)

    async def _insert_one(self, new: _NewExecution) -> asyncpg.Record | None:
        [row] = await self._insert_many([new])
        return row

    async def _insert_many(self, batch: Sequence[_NewExecution]) -> list[asyncpg.Record | None]:
        """One statement for the batch; an id twice in it is inserted once, and its other
        occurrences find it recorded (their own statement, after this one)."""
        first: dict[str, int] = {}
        for position, new in enumerate(batch):
            first.setdefault(new.columns[0], position)
        unique = [batch[position] for position in first.values()]
        columns = [list(column) for column in zip(*(n.columns for n in unique), strict=True)]
        async with _refusals_as_unstorable():
            rows = await self._pool.fetch(
                _QUERIES.insert_executions,
                *columns,
                [n.token for n in unique],
                [n.lease_seconds for n in unique],
            )
        inserted = {row["id"]: row for row in rows}
        return [
            inserted.get(new.columns[0]) if first[new.columns[0]] == position else None
            for position, new in enumerate(batch)
        ]

    async def _claim(
        self,
        connection: asyncpg.pool.PoolConnectionProxy[asyncpg.Record],
        request: ExecutionRequest,
        token: str,
        lease_seconds: float,
    ) -> ExecutionProgress | None:
        row = await connection.fetchrow(_QUERIES.lock_execution, request.execution_id)
        if row is None or row["tenant_id"] != request.tenant_id:
            return None
        steps = await connection.fetch(
            _QUERIES.step_progress, request.execution_id, request.tenant_id
        )
        progress = _progress(row, steps, request)
        may_run = progress.status == "running" or progress.waits_on(request.resumption)
        if not may_run or row["leased"]:
            return progress
        lease_until = await connection.fetchval(
            _QUERIES.claim_execution,
            request.execution_id,
            request.tenant_id,
            token,
            lease_seconds,
        )
        self.leases.hold(token)
        return replace(progress, claimed=True, lease_until=lease_until)

    async def admit(self, request: ExecutionRequest, token: str, limit: int) -> Admission:
        """Admissions of one workflow are decided under a PostgreSQL advisory lock (so exactly
        across replicas), one at a time per process (so that waiting for it holds one pool
        connection, not many). A window found full stays full at least until its oldest
        admission leaves it, and a queue found waiting is joined at the back by every run
        requested after it: meanwhile runs over the limit are dropped or queued without the
        lock (what a workflow held back by its limit costs the others stays small)."""
        key = _admission_key(request, limit)
        for last_try in (False, True):
            if self._held_back(key):
                throttled = await self._throttle(request, token, limit)
                if throttled is not None:
                    return throttled
            lock = self._admission_locks.get(key)
            if lock is None:
                lock = self._admission_locks.setdefault(key, asyncio.Lock())
            async with lock:
                if not last_try and self._held_back(key):
                    continue  # decided while this run waited: throttle outside the lock
                admission, held = await self._admit_locked(request, token, limit)
                if held is not None:
                    self._held[key] = held
                else:
                    self._held.pop(key, None)
                return admission
        raise AssertionError("unreachable: the last try decides under the lock")

    def _held_back(self, key: _AdmissionKey) -> bool:
        """Whether runs of the workflow are known to be held back by its limit right now."""
        held = self._held.get(key)
        # The database's clock said until when; a margin for this host's (a run kept out a
        # moment too long is the only cost of a clock behind the database's).
        return held is not None and datetime.now(UTC) < held.until - _CLOCK_MARGIN

    async def _admit_locked(
        self, request: ExecutionRequest, token: str, limit: int
    ) -> tuple[Admission, _HeldBack | None]:
        """The admission, and, when the workflow's runs are held back (its window is full, or
        its queue waits), until when at least, with the window as it is."""
        tenant, workflow, execution = request.tenant_id, request.workflow_id, request.execution_id
        async with (
            _refusals_as_unstorable(),
            self._pool.acquire() as connection,
            connection.transaction(),
        ):
            now = await connection.fetchval(_QUERIES.admission_lock, f"{tenant}/{workflow}")
            state = await connection.fetchrow(_QUERIES.admission_state, execution, tenant, token)
            if state is None:
                self.leases.drop(token)
                return Admission("lost"), None
            if state["admitted"]:
                return Admission("admitted"), None
            since = now - RATE_LIMIT_WINDOW
            in_window = await connection.fetchval(
                _QUERIES.count_admitted, tenant, workflow, since, limit
            )
            queues = request.workflow.settings.throttle_action == "queue"
            ahead = (
                await connection.fetchval(
                    _QUERIES.count_queued_ahead, tenant, workflow, state["requested_at"], execution
                )
                if queues and state["requested_at"] is not None
                else 0
            )
            if ahead == 0 and in_window < limit:
                await connection.execute(_QUERIES.admit_execution, execution, tenant, now)
                return Admission("admitted"), None
            window = tuple(
                row["admitted_at"]
                for row in await connection.fetch(
                    _QUERIES.window_admissions, tenant, workflow, since, limit
                )
            )
            if in_window >= limit:
                held = _HeldBack(window[0] + RATE_LIMIT_WINDOW, window, full=True)
            else:
                # Anyone requested later queues behind the runs waiting, whose heads come back
                # within the least requeue wait.
                held = _HeldBack(now + REQUEUE_AT_LEAST, window, full=False)
            self.leases.drop(token)
            if not queues:
                await connection.execute(_QUERIES.throttle_execution, execution, tenant)
                return Admission("dropped"), held
            due_at = held.queue_due_at(now, limit, ahead)
            timer_id = await connection.fetchval(
                _QUERIES.park_execution, execution, tenant, token, "queue", 0, due_at
            )
        return Admission("queued", Timer(timer_id, "queue", 0, due_at)), held

    async def _throttle(
        self, request: ExecutionRequest, token: str, limit: int
    ) -> Admission | None:
        """Drop or queue a run while its workflow's runs are known to be held back (unless it
        was admitted before). A queued run's place is counted; when its room opens is reckoned
        from the window the last admission under the lock saw (a run that comes back too early
        just queues again, in its place). None: the run heads a queue in a window that is not
        full, so the lock decides."""
        tenant, workflow, execution = request.tenant_id, request.workflow_id, request.execution_id
        held = self._held.get(_admission_key(request, limit))
        async with _refusals_as_unstorable(), self._pool.acquire() as connection:
            if request.workflow.settings.throttle_action == "drop":
                throttled: Admission | None = (
                    Admission("dropped")
                    if await connection.fetchval(
                        _QUERIES.throttle_held_execution, execution, tenant, token
                    )
                    else None
                )
            else:
                ahead = await connection.fetchval(
                    _QUERIES.count_queued_ahead, tenant, workflow, request.requested_at, execution
                )
                if ahead == 0 and (held is None or not held.full):
                    return None
                now = datetime.now(UTC)
                due_at = (
                    held.queue_due_at(now, limit, ahead)
                    if held is not None
                    else now + REQUEUE_AT_LEAST
                )
                timer_id = await connection.fetchval(
                    _QUERIES.queue_held_execution, execution, tenant, token, due_at
                )
                throttled = (
                    Admission("queued", Timer(timer_id, "queue", 0, due_at)) if timer_id else None
                )
            if throttled is not None:
                self.leases.drop(token)
                return throttled
            admitted = await connection.fetchval(_QUERIES.held_admission, execution, tenant, token)
        if admitted:
            return Admission("admitted")
        self.leases.drop(token)
        return Admission("lost")

    async def resume(self, tenant_id: str, execution_id: str, token: str, timer: Timer) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            resumed = await connection.fetchval(
                _QUERIES.resume_execution, execution_id, tenant_id, token
            )
            if resumed and timer.reason == "delay" and timer.step > 0:
                await connection.execute(
                    _QUERIES.finish_delay_step, execution_id, tenant_id, timer.step - 1
                )
        return bool(resumed)

    async def record_step(self, record: StepRecord, token: str) -> bool:
        async with _refusals_as_unstorable():
            recorded = await self._pool.fetchval(
                _QUERIES.record_step, *_step_arguments(record), token
            )
        return recorded is not None

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
        self.leases.drop(token)
        stored_error = storable_copy(dict(error)) if error is not None else None
        if last_step is not None:
            return await self._end(_Ending(last_step, token, status, stored_error))
        async with _refusals_as_unstorable():
            finished = await self._pool.fetchval(
                _QUERIES.finish_execution, execution_id, tenant_id, status, stored_error, token
            )
        return finished is not None

    async def _end_one(self, ending: _Ending) -> bool:
        [ended] = await self._end_many([ending])
        return ended

    async def _end_many(self, batch: Sequence[_Ending]) -> list[bool]:
        columns = [list(column) for column in zip(*(e.columns for e in batch), strict=True)]
        async with _refusals_as_unstorable():
            rows = await self._pool.fetch(_QUERIES.record_last_steps_and_finish, *columns)
        ended = {row["id"] for row in rows}
        return [ending.step.execution_id in ended for ending in batch]

    async def park(
        self,
        tenant_id: str,
        execution_id: str,
        token: str,
        reason: DeferralReason,
        step: int,
        due_at: datetime,
    ) -> Timer | None:
        self.leases.drop(token)
        timer_id = await self._pool.fetchval(
            _QUERIES.park_execution, execution_id, tenant_id, token, reason, step, due_at
        )
        return Timer(timer_id, reason, step, due_at) if timer_id is not None else None

    async def release(self, tenant_id: str, execution_id: str, token: str) -> None:
        self.leases.drop(token)
        await self._pool.execute(_QUERIES.release_lease, execution_id, tenant_id, token)

    async def abandon(self, tenant_id: str, execution_id: str, error: Mapping[str, Any]) -> bool:
        async with _refusals_as_unstorable():
            failed = await self._pool.fetchval(
                _QUERIES.abandon_execution, execution_id, tenant_id, storable_copy(dict(error))
            )
        return failed is not None

    async def mark_dead_lettered(self, tenant_id: str, execution_id: str) -> None:
        await self._pool.execute(_QUERIES.mark_dead_lettered, execution_id, tenant_id)

    async def mark_notified(self, tenant_id: str, execution_id: str) -> None:
        await self._pool.execute(_QUERIES.mark_notified, execution_id, tenant_id)

    async def exitable(self, events: Sequence[CloudEvent]) -> list[WaitingExecution]:
        pairs = sorted({(e.tenantid, e.subject) for e in events if e.subject is not None})
        if not pairs:
            return []
        rows = await self._pool.fetch(
            _QUERIES.exitable_executions, [p[0] for p in pairs], [p[1] for p in pairs]
        )
        waiting: list[WaitingExecution] = []
        for row in rows:
            try:
                conditions = ConditionGroup.model_validate(row["exit_conditions"])
            except ValidationError:
                log.warning("stored exit conditions unreadable", extra={"execution_id": row["id"]})
                continue
            waiting.append(
                WaitingExecution(
                    tenant_id=row["tenant_id"],
                    execution_id=row["id"],
                    subject=row["subject"],
                    trigger_event_id=row["trigger_event_id"],
                    begun_at=row["created_at"],
                    exit_conditions=conditions,
                )
            )
        return waiting

    async def exit(self, execution: WaitingExecution, event: CloudEvent) -> bool:
        exited = await self._pool.fetchval(
            _QUERIES.exit_execution, execution.execution_id, execution.tenant_id, event.id
        )
        return exited is not None


class PostgresDestinationPauses(DestinationPauses):
    """Pauses in PostgreSQL, shared by every replica, read through a small cache: a pause set
    by another replica is seen within ``cache_seconds``; one set here at once."""

    def __init__(self, pool: Pool, *, cache_seconds: float, max_entries: int = 10_000) -> None:
        self._pool = pool
        self._cache_seconds = cache_seconds
        self._max_entries = max_entries
        self._cache: OrderedDict[tuple[str, str], tuple[datetime | None, float]] = OrderedDict()

    async def paused_until(self, tenant_id: str, destination: str) -> datetime | None:
        key = (tenant_id, destination)
        cached = self._cache.get(key)
        if cached is not None and time.monotonic() - cached[1] < self._cache_seconds:
            return cached[0]
        until = await self._pool.fetchval(_QUERIES.destination_paused_until, tenant_id, destination)
        self._remember(key, until)
        return until  # type: ignore[no-any-return]

    async def pause(self, tenant_id: str, destination: str, until: datetime) -> None:
        await self._pool.execute(_QUERIES.pause_destination, tenant_id, destination, until)
        cached = self._cache.get((tenant_id, destination))
        if cached is not None and cached[0] is not None:
            until = max(until, cached[0])
        self._remember((tenant_id, destination), until)

    def _remember(self, key: tuple[str, str], until: datetime | None) -> None:
        self._cache[key] = (until, time.monotonic())
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
