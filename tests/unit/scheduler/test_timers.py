"""Durable timers: one per id (the later record wins), handed back in due order, kept when the
broker did not acknowledge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.domain import Timer, timer_from
from services.scheduler.handlers import fire_due_timers, store_timers
from shared.contracts import (
    CloudEvent,
    DeferredExecution,
    ExecutionRequest,
    Resumption,
    WorkflowDefinition,
)
from tests.unit.scheduler.fakes import RecordingPublisher

NOW = datetime(2026, 5, 4, 12, tzinfo=UTC)


@dataclass
class MemoryTimers:
    rows: dict[str, Timer] = field(default_factory=dict)

    async def save(self, timers: Sequence[Timer]) -> None:
        self.rows.update({timer.timer_id: timer for timer in timers})

    @asynccontextmanager
    async def claim_due(self, now: datetime, limit: int) -> AsyncIterator[Sequence[Timer]]:
        due = sorted((t for t in self.rows.values() if t.due_at <= now), key=lambda t: t.due_at)
        claimed = due[:limit]
        yield list(reversed(claimed))  # in no particular order, as DELETE ... RETURNING
        for timer in claimed:
            del self.rows[timer.timer_id]

    async def next_due_after(self, now: datetime) -> datetime | None:
        return min((t.due_at for t in self.rows.values() if t.due_at > now), default=None)


def parked(timer_id: str, due_at: datetime, step: int = 1) -> Timer:
    request = ExecutionRequest(
        execution_id=f"exe_{timer_id}",
        tenant_id="acme",
        workflow_id="wf_1",
        workflow_version=2,
        workflow=WorkflowDefinition.model_validate(
            {
                "name": "Delayed hook",
                "trigger": "customer.created",
                "actions": [
                    {"type": "delay", "duration": "5 seconds"},
                    {"type": "webhook", "url": "https://example.com/hook"},
                ],
            }
        ),
        event=CloudEvent(id="e1", source="native", type="customer.created", tenantid="acme"),
        resumption=Resumption(timer_id=timer_id, reason="delay", step=step, due_at=due_at),
    )
    return timer_from(DeferredExecution(request=request))


def test_a_timer_holds_the_request_exactly_as_it_goes_back() -> None:
    timer = parked("t1", NOW)
    request = ExecutionRequest.model_validate_json(timer.request)
    assert request.resumption is not None
    assert (request.resumption.timer_id, request.resumption.step) == ("t1", 1)
    assert (timer.workflow_id, timer.execution_id, timer.reason) == ("wf_1", "exe_t1", "delay")


async def test_the_later_record_for_a_timer_wins_and_the_earliest_due_is_reported() -> None:
    store = MemoryTimers()
    earliest = await store_timers(
        store,
        [
            parked("t1", NOW + timedelta(seconds=5)),
            parked("t2", NOW + timedelta(seconds=9)),
            parked("t1", NOW + timedelta(seconds=30), step=3),
        ],
    )
    assert earliest == NOW + timedelta(seconds=9)
    assert store.rows["t1"].due_at == NOW + timedelta(seconds=30)
    assert store.rows["t1"].step == 3


async def test_due_timers_go_back_in_due_order_and_are_forgotten() -> None:
    store = MemoryTimers()
    await store.save([parked(f"t{n}", NOW - timedelta(seconds=n)) for n in range(5)])
    await store.save([parked("later", NOW + timedelta(seconds=1))])
    publisher = RecordingPublisher()

    fired = await fire_due_timers(store, publisher, now=NOW, limit=3)

    assert [t.timer_id for t in fired] == ["t4", "t3", "t2"]
    assert [t.timer_id for t in publisher.requests] == ["t4", "t3", "t2"]
    assert set(store.rows) == {"t1", "t0", "later"}
    assert await store.next_due_after(NOW) == NOW + timedelta(seconds=1)


async def test_timers_stay_when_the_broker_did_not_acknowledge() -> None:
    store = MemoryTimers()
    await store.save([parked("t1", NOW)])
    with pytest.raises(ConnectionError):
        await fire_due_timers(store, RecordingPublisher(fail=True), now=NOW, limit=10)
    assert set(store.rows) == {"t1"}
