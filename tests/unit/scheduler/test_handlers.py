"""The cron handlers' contracts, over an in-memory store that claims like the real one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest

from services.scheduler.domain import CronFiring, CronSchedule, CronSpec, ScheduleRecord
from services.scheduler.handlers import fire_due_schedules, learn_workflow_changes
from shared.contracts import CloudEvent, WorkflowChange

SLOT = datetime(2026, 1, 5, 10, 1, tzinfo=UTC)
GRACE = timedelta(seconds=60)


@dataclass
class Claim:
    store: MemoryScheduleStore
    schedules: Sequence[CronSchedule]
    advanced: dict[str, datetime | None] = field(default_factory=dict)

    async def advance(self, firings: Sequence[CronFiring]) -> None:
        self.advanced.update({f.schedule.workflow_id: f.next_fire_at for f in firings})


@dataclass
class MemoryScheduleStore:
    rows: dict[str, ScheduleRecord] = field(default_factory=dict)

    async def save(self, records: Sequence[ScheduleRecord]) -> None:
        for record in records:
            stored = self.rows.get(record.workflow_id)
            if stored is None or stored.version < record.version:
                self.rows[record.workflow_id] = record

    @asynccontextmanager
    async def claim_due(self, now: datetime, limit: int) -> AsyncIterator[Claim]:
        due = sorted(
            (r for r in self.rows.values() if r.next_fire_at and r.next_fire_at <= now),
            key=lambda r: r.next_fire_at or now,
        )[:limit]
        claim = Claim(
            self,
            [
                CronSchedule(r.workflow_id, r.tenant_id, r.version, r.spec, r.next_fire_at)
                for r in due
                if r.spec is not None and r.next_fire_at is not None
            ],
        )
        yield claim
        for workflow_id, next_fire_at in claim.advanced.items():
            self.rows[workflow_id] = replace(self.rows[workflow_id], next_fire_at=next_fire_at)


@dataclass
class RecordingPublisher:
    published: list[CloudEvent] = field(default_factory=list)
    fail: bool = False

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.published.extend(events)


def every_minute(workflow_id: str, next_fire_at: datetime) -> ScheduleRecord:
    return ScheduleRecord(workflow_id, "acme", 1, CronSpec("* * * * *", "UTC"), next_fire_at)


async def test_due_slots_fire_once_and_advance_past_now() -> None:
    store = MemoryScheduleStore()
    await store.save([every_minute("wf-1", SLOT), every_minute("wf-2", SLOT.replace(minute=5))])
    publisher = RecordingPublisher()
    now = SLOT.replace(second=1)

    firings = await fire_due_schedules(store, publisher, now=now, limit=10, misfire_grace=GRACE)
    again = await fire_due_schedules(store, publisher, now=now, limit=10, misfire_grace=GRACE)

    assert [f.schedule.workflow_id for f in firings] == ["wf-1"]
    assert again == []
    assert [e.subject for e in publisher.published] == ["wf-1"]
    assert store.rows["wf-1"].next_fire_at == SLOT.replace(minute=2)


async def test_slots_stay_due_when_the_broker_did_not_acknowledge() -> None:
    store = MemoryScheduleStore()
    await store.save([every_minute("wf-1", SLOT)])

    with pytest.raises(ConnectionError):
        await fire_due_schedules(
            store, RecordingPublisher(fail=True), now=SLOT, limit=10, misfire_grace=GRACE
        )

    assert store.rows["wf-1"].next_fire_at == SLOT
    retry = RecordingPublisher()
    await fire_due_schedules(store, retry, now=SLOT, limit=10, misfire_grace=GRACE)
    assert [e.time for e in retry.published] == [SLOT]


async def test_a_replayed_older_record_does_not_bring_a_paused_schedule_back() -> None:
    store = MemoryScheduleStore()
    active = {
        "name": "Digest",
        "trigger": "schedule.cron",
        "schedule": {"cron": "* * * * *"},
        "actions": [{"type": "webhook", "url": "https://example.com/hook"}],
        "active": True,
    }

    def record(version: int, definition: dict[str, object]) -> WorkflowChange:
        return WorkflowChange.model_validate(
            {
                "tenant_id": "acme",
                "workflow_id": "wf-1",
                "version": version,
                "workflow": definition,
                "changed_at": "2026-01-05T10:00:00Z",
            }
        )

    paused = record(2, {**active, "active": False})
    await learn_workflow_changes(store, [record(1, active), paused], now=SLOT)
    await learn_workflow_changes(store, [record(1, active)], now=SLOT)

    assert store.rows["wf-1"].version == 2
    assert store.rows["wf-1"].spec is None


async def test_a_skipped_missed_slot_advances_without_an_event() -> None:
    store = MemoryScheduleStore()
    skipping = ScheduleRecord("wf-1", "acme", 1, CronSpec("* * * * *", "UTC", "skip"), SLOT)
    await store.save([skipping])
    publisher = RecordingPublisher()
    later = SLOT + timedelta(hours=2, seconds=30)

    [firing] = await fire_due_schedules(store, publisher, now=later, limit=10, misfire_grace=GRACE)

    assert firing.event is None
    assert publisher.published == []
    assert store.rows["wf-1"].next_fire_at == SLOT + timedelta(hours=2, minutes=1)
