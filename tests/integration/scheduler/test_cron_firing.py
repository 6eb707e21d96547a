"""The scheduler against the real broker and PostgreSQL: learning schedules, firing each slot once.

Time is a clock the tests move by hand, so no test waits for a real minute to pass; every wait is
for an observable state (a row, an event) and is bounded.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from services.scheduler.adapters.postgres import migrate
from services.scheduler.domain import cron_event_id
from services.scheduler.service import ScheduleService
from services.scheduler.settings import SchedulerSettings
from shared.contracts import CloudEvent, Topics, WorkflowChange
from shared.kafka import encode, make_producer
from shared.postgres import Pool
from shared.settings import KafkaSettings, PostgresSettings

pytestmark = pytest.mark.integration

START = datetime(2030, 1, 7, 10, 0, 30, tzinfo=UTC)
FIRST_SLOT = datetime(2030, 1, 7, 10, 1, tzinfo=UTC)


class HandClock:
    """A clock that shows ``now`` until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def just_after(self, slot: datetime) -> None:
        self.now = slot + timedelta(milliseconds=500)


@pytest.fixture
async def empty_schedules(pool: Pool) -> None:
    """No schedule left by another test: every replica fires every due row it finds."""
    await migrate(pool)
    await pool.execute("DELETE FROM cron_schedules")


@pytest.fixture
def settings(
    empty_schedules: None,
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    topic_prefix: str,
) -> SchedulerSettings:
    return SchedulerSettings(
        host="127.0.0.1",
        port=0,
        kafka=kafka_settings,
        postgres=postgres_settings,
        consumer_group=f"{topic_prefix}scheduler",
        tick_seconds=0.02,
    )


@asynccontextmanager
async def replicas(
    settings: SchedulerSettings, clock: HandClock, count: int = 1
) -> AsyncIterator[list[ScheduleService]]:
    async with AsyncExitStack() as stack:
        services = [ScheduleService(settings, clock=clock) for _ in range(count)]
        for service in services:
            await stack.enter_async_context(service)
        yield services


def cron_workflow(status: str = "active", cron: str = "* * * * *") -> dict[str, Any]:
    return {
        "name": "Every minute",
        "trigger": "schedule.cron",
        "schedule": {"cron": cron, "timezone": "Europe/Paris"},
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
    producer = make_producer(settings, client_id="test")
    await producer.start()
    try:
        topic = Topics(settings.topic_prefix).workflows_changelog
        for item in changes:
            await producer.send_and_wait(topic, encode(item), key=item.key.encode())
    finally:
        await producer.stop()


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    try:
        async with asyncio.timeout(30):
            while not await check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out waiting until {what}")


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
    topic = Topics(settings.topic_prefix).events_normalized
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, fetch_max_wait_ms=50)
    await consumer.start()
    events: list[CloudEvent] = []
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        async with asyncio.timeout(20):
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    events.extend(
                        CloudEvent.model_validate_json(r.value) for r in records if r.value
                    )
    finally:
        await consumer.stop()
    return [event for event in events if event.tenantid == tenant_id]


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
