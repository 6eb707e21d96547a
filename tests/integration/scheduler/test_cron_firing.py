"""The scheduler against the real broker and PostgreSQL: learning schedules, firing each slot once.

Time is a clock the tests move by hand, so no test waits for a real minute to pass; every wait is
for an observable state (a row, an event) and is bounded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from services.scheduler.domain import cron_event_id
from services.scheduler.settings import SchedulerSettings
from shared.contracts import CloudEvent, Topics, WorkflowChange
from shared.postgres import Pool
from shared.settings import KafkaSettings
from tests.integration.scheduler.support import (
    HandClock,
    events_on,
    eventually,
    on,
    replicas,
)
from tests.integration.scheduler.support import publish as publish_records

pytestmark = pytest.mark.integration

START = datetime(2030, 1, 7, 10, 0, 30, tzinfo=UTC)
FIRST_SLOT = datetime(2030, 1, 7, 10, 1, tzinfo=UTC)


def cron_workflow(
    status: str = "active", cron: str = "* * * * *", name: str = "Every minute", **schedule: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": "schedule.cron",
        "schedule": {"cron": cron, "timezone": "Europe/Paris", **schedule},
        "actions": [{"type": "webhook", "url": "https://example.com/hook"}],
        "status": status,
    }


def change(
    tenant_id: str, workflow_id: str, version: int, workflow: dict[str, Any] | None
) -> WorkflowChange:
    return WorkflowChange.model_validate(
        {
            "tenant_id": tenant_id,
            "workflow_id": workflow_id,
            "version": version,
            "workflow": workflow,
            "changed_at": START,
        }
    )


async def publish(settings: KafkaSettings, *changes: WorkflowChange) -> None:
    topic = Topics(settings.topic_prefix).workflows_changelog
    await publish_records(settings, [on(topic, change, change.key) for change in changes])


async def schedules(pool: Pool, tenant_id: str) -> dict[str, dict[str, Any]]:
    rows = await pool.fetch("SELECT * FROM cron_schedules WHERE tenant_id = $1", tenant_id)
    return {row["workflow_id"]: dict(row) for row in rows}


async def until_next_fire_times(
    pool: Pool, tenant_id: str, expected: list[datetime], what: str
) -> None:
    async def reached() -> bool:
        rows = await schedules(pool, tenant_id)
        return [row["next_fire_at"] for row in rows.values()] == expected

    await eventually(reached, what)


async def fired_events(settings: KafkaSettings, tenant_id: str) -> list[CloudEvent]:
    """Every event of ``tenant_id`` on events.normalized, read up to the current end."""
    return await events_on(settings, Topics(settings.topic_prefix).events_normalized, tenant_id)


async def test_a_due_slot_fires_one_schedule_cron_event_for_the_workflow(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    clock = HandClock(START)
    async with replicas(settings, clock) as [scheduler]:
        await publish(settings.kafka, change(tenant_id, "wf-digest", 1, cron_workflow()))
        await until_next_fire_times(pool, tenant_id, [FIRST_SLOT], "the schedule is learned")

        clock.just_after(FIRST_SLOT)
        await until_next_fire_times(
            pool,
            tenant_id,
            [FIRST_SLOT + timedelta(minutes=1)],
            "the slot is fired and the schedule advanced",
        )
        [event] = await fired_events(settings.kafka, tenant_id)

        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{scheduler.http.bound_port}"
            ready = (await http.get(f"{base}/readyz")).status
            metrics = await (await http.get(f"{base}/metrics")).text()

    assert (event.type, event.source, event.subject) == ("schedule.cron", "scheduler", "wf-digest")
    assert event.id == cron_event_id("wf-digest", FIRST_SLOT)
    assert event.time == FIRST_SLOT
    assert event.data == {
        "workflowId": "wf-digest",
        "workflowVersion": 1,
        "scheduledFor": "2030-01-07T10:01:00Z",
        "cron": "* * * * *",
        "timezone": "Europe/Paris",
        "late": False,
    }
    assert ready == 200
    assert 'scheduler_time_events_emitted_total{type="schedule.cron"}' in metrics
    assert "scheduler_cron_lateness_seconds_bucket" in metrics


async def test_two_replicas_fire_each_due_slot_exactly_once(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    workflow_ids = [f"wf-{n:02d}" for n in range(12)]
    slots = [FIRST_SLOT + timedelta(minutes=n) for n in range(3)]
    clock = HandClock(START)
    # Small batches make the replicas' claims interleave within every slot.
    contended = settings.model_copy(update={"fire_batch_size": 3})
    async with replicas(contended, clock, count=2):
        await publish(
            settings.kafka, *(change(tenant_id, w, 1, cron_workflow()) for w in workflow_ids)
        )
        await until_next_fire_times(
            pool, tenant_id, [FIRST_SLOT] * len(workflow_ids), "every schedule is learned"
        )
        for slot in slots:
            clock.just_after(slot)
            advanced = [slot + timedelta(minutes=1)] * len(workflow_ids)
            await until_next_fire_times(
                pool, tenant_id, advanced, f"every schedule fired its {slot:%H:%M} slot"
            )
        events = await fired_events(settings.kafka, tenant_id)

    assert Counter(event.id for event in events).most_common(1)[0][1] == 1
    assert sorted((e.subject, e.time) for e in events) == sorted(
        (w, slot) for w in workflow_ids for slot in slots
    )


async def test_pausing_or_deleting_a_workflow_removes_its_schedule_for_good(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    clock = HandClock(START)
    active = cron_workflow()
    async with replicas(settings, clock):
        await publish(
            settings.kafka,
            change(tenant_id, "wf-paused", 1, active),
            change(tenant_id, "wf-deleted", 1, active),
        )
        await until_next_fire_times(pool, tenant_id, [FIRST_SLOT] * 2, "both schedules are learned")
        # The old versions arrive again after the change, as a redelivery would bring them; the
        # last workflow is on the same partition, so once it is learned all the rest are too.
        await publish(
            settings.kafka,
            change(tenant_id, "wf-paused", 2, cron_workflow(status="paused")),
            change(tenant_id, "wf-deleted", 2, None),
            change(tenant_id, "wf-paused", 1, active),
            change(tenant_id, "wf-deleted", 1, active),
            change(tenant_id, "wf-still-active", 1, active),
        )
        await eventually(
            lambda: _has(schedules(pool, tenant_id), "wf-still-active"),
            "the changes are learned",
        )
        removed = await schedules(pool, tenant_id)

        clock.just_after(FIRST_SLOT)
        await eventually(lambda: _not_due(pool, tenant_id, clock.now), "the due slot is fired")
        events = await fired_events(settings.kafka, tenant_id)

    for workflow_id in ("wf-paused", "wf-deleted"):
        row = removed[workflow_id]
        assert (row["version"], row["cron"], row["next_fire_at"]) == (2, None, None)
    assert [event.subject for event in events] == ["wf-still-active"]


async def _has(rows: Awaitable[dict[str, dict[str, Any]]], workflow_id: str) -> bool:
    return workflow_id in await rows


async def _not_due(pool: Pool, tenant_id: str, now: datetime) -> bool:
    due = await pool.fetchval(
        "SELECT count(*) FROM cron_schedules WHERE tenant_id = $1 AND next_fire_at <= $2",
        tenant_id,
        now,
    )
    return bool(due == 0)


async def test_fifty_saves_fire_once_per_slot_and_never_from_a_version_older_than_the_slots(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    """Ten saves before each of five slots, published and acknowledged just before the clock
    passes the slot, without waiting for the scheduler to learn them: the slot still fires once,
    from the last version saved before it."""
    clock = HandClock(START)
    slots = [FIRST_SLOT + timedelta(minutes=n) for n in range(5)]
    current_at: dict[datetime, int] = {}
    version = 0
    async with replicas(settings, clock):
        for slot in slots:
            for _ in range(10):
                version += 1
                edited = cron_workflow(name=f"Digest, edit {version}")
                await publish(settings.kafka, change(tenant_id, "wf-edited", version, edited))
            current_at[slot] = version
            clock.just_after(slot)
            await until_next_fire_times(
                pool, tenant_id, [slot + timedelta(minutes=1)], f"the {slot:%H:%M} slot fired"
            )
        events = await fired_events(settings.kafka, tenant_id)

    assert version == 50
    assert sorted(event.time for event in events) == slots
    for event in events:
        assert event.data["workflowVersion"] >= current_at[event.time], event.data
    assert len({event.id for event in events}) == len(slots)


async def test_a_missed_slot_fires_once_late_or_not_at_all_as_the_workflow_says(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    clock = HandClock(START)
    async with replicas(settings, clock):
        await publish(
            settings.kafka,
            change(tenant_id, "wf-once", 1, cron_workflow()),
            change(tenant_id, "wf-skip", 1, cron_workflow(catchUp="skip")),
        )
        await until_next_fire_times(pool, tenant_id, [FIRST_SLOT] * 2, "both are learned")
        clock.just_after(FIRST_SLOT + timedelta(minutes=5))  # down for five slots
        after_now = FIRST_SLOT + timedelta(minutes=6)
        await until_next_fire_times(pool, tenant_id, [after_now] * 2, "both advanced past now")
        events = await fired_events(settings.kafka, tenant_id)
        stored = await schedules(pool, tenant_id)

    [late] = events
    assert (late.subject, late.time, late.data["late"]) == ("wf-once", FIRST_SLOT, True)
    assert stored["wf-skip"]["catch_up"] == "skip"
