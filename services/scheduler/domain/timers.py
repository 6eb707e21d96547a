"""Durable timers: a parked execution request held until its due time, then handed back. Pure.

The executor parks an execution (a ``delay`` step, a throttled ``queue`` run, a retry) by
publishing a ``DeferredExecution`` on ``executions.deferred``. The scheduler keeps one timer per
``timer_id``: a record for a timer it already holds replaces it (the later record wins, so a
queue run parked again with a new due time keeps only the new one, and a redelivery changes
nothing). When the timer is due, its request is published unchanged on ``executions.requested``,
keyed by workflow id, and the timer is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.contracts import DeferredExecution


@dataclass(frozen=True, slots=True)
class Timer:
    """A parked request: ``request`` is its JSON exactly as it goes back to the executor."""

    timer_id: str
    due_at: datetime
    tenant_id: str
    workflow_id: str
    execution_id: str
    reason: str
    step: int
    request: bytes


def timer_from(deferred: DeferredExecution) -> Timer:
    request = deferred.request
    resumption = deferred.resumption
    return Timer(
        timer_id=resumption.timer_id,
        due_at=resumption.due_at,
        tenant_id=request.tenant_id,
        workflow_id=request.workflow_id,
        execution_id=request.execution_id,
        reason=resumption.reason,
        step=resumption.step,
        request=request.model_dump_json(by_alias=True).encode(),
    )


def latest_per_timer(timers: Iterable[Timer]) -> list[Timer]:
    """One timer per id, the last one given winning (records arrive in partition order)."""
    latest: dict[str, Timer] = {}
    for timer in timers:
        latest[timer.timer_id] = timer
    return list(latest.values())
