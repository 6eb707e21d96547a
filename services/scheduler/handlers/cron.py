"""Cron: learn schedules from changelog records, fire the due slots."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from typing import Protocol

from services.scheduler.domain import (
    CronFiring,
    CronSchedule,
    ScheduleRecord,
    fire,
    latest_per_workflow,
    schedule_record,
)
from services.scheduler.handlers.ports import EventPublisher, publish_events
from shared.contracts import WorkflowChange


class DueSchedules(Protocol):
    """Due schedules claimed for one firing; no other replica can claim them meanwhile."""

    @property
    def schedules(self) -> Sequence[CronSchedule]: ...

    async def advance(self, firings: Sequence[CronFiring]) -> None:
        """Record each firing's next fire time; kept only if the claim ends without error."""


class ScheduleStore(Protocol):
    async def save(self, records: Sequence[ScheduleRecord]) -> None:
        """Store each record unless the workflow is already stored at the same or a higher
        version. Returns once stored durably."""

    def claim_due(self, now: datetime, limit: int) -> AbstractAsyncContextManager[DueSchedules]:
        """Claim up to ``limit`` schedules due at ``now``, earliest first, skipping those another
        claim holds and those whose slot the changelog has not been read past yet. Leaving the
        context without error commits the advances; an error undoes them, leaving them due."""


async def learn_workflow_changes(
    store: ScheduleStore, changes: Sequence[WorkflowChange], *, now: datetime
) -> None:
    """Bring the stored schedules up to ``changes`` (any order, repeats allowed)."""
    records = latest_per_workflow(schedule_record(change, now=now) for change in changes)
    if records:
        await store.save(records)


async def fire_due_schedules(
    store: ScheduleStore,
    publisher: EventPublisher,
    *,
    now: datetime,
    limit: int,
    misfire_grace: timedelta,
) -> list[CronFiring]:
    """Fire every slot due at ``now`` (up to ``limit``), each exactly once across replicas.

    The events are acknowledged by the broker before the schedules advance, so a crash in between
    fires the same slots again, with the same event ids (at-least-once; the executor dedupes).
    A missed slot of a ``catchUp: skip`` schedule advances without an event.
    """
    async with store.claim_due(now, limit) as due:
        firings = [
            fire(schedule, now=now, misfire_grace=misfire_grace) for schedule in due.schedules
        ]
        await publish_events(publisher, (firing.event for firing in firings))
        if firings:
            await due.advance(firings)
    return firings
