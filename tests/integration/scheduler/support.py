"""What the scheduler's integration tests share: a hand clock, replicas, reading topics back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import BaseModel

from services.scheduler.service import ScheduleService
from services.scheduler.settings import SchedulerSettings
from shared.contracts import (
    CloudEvent,
    DeferredExecution,
    ExecutionRequest,
    Resumption,
    WorkflowDefinition,
)
from shared.kafka import Outgoing, ensure_topics, make_producer, publish_all
from shared.settings import KafkaSettings

SCHEDULER_TABLES = (
    "cron_schedules",
    "timers",
    "contracts",
    "contract_rejections",
    "tenant_clocks",
    "revenue_events",
)
"""Shared by every test of the session's database: each test starts and ends with them empty, so
no scheduler of another test fires what this one left (onto its own topics)."""


class HandClock:
    """A clock that shows ``now`` until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def just_after(self, slot: datetime) -> None:
        self.now = slot + timedelta(milliseconds=500)


@asynccontextmanager
async def replicas(
    settings: SchedulerSettings, clock: Callable[[], datetime], count: int = 1
) -> AsyncIterator[list[ScheduleService]]:
    async with AsyncExitStack() as stack:
        services = [ScheduleService(settings, clock=clock) for _ in range(count)]
        for service in services:
            await stack.enter_async_context(service)
        yield services


async def eventually(check: Callable[[], Awaitable[bool]], what: str, within: float = 30) -> None:
    try:
        async with asyncio.timeout(within):
            while not await check():
                await asyncio.sleep(0.05)
    except TimeoutError:
        pytest.fail(f"timed out waiting until {what}")


async def publish(settings: KafkaSettings, records: Sequence[Outgoing]) -> None:
    producer = make_producer(settings, client_id="test")
    await producer.start()
    try:
        await publish_all(producer, records)
    finally:
        await producer.stop()


def on(topic: str, model: BaseModel, key: str) -> Outgoing:
    return Outgoing.of(topic, model, key=key)


async def records_on(settings: KafkaSettings, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of ``topic``, read up to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers, fetch_max_wait_ms=50)
    await consumer.start()
    records: list[ConsumerRecord[bytes, bytes]] = []
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        async with asyncio.timeout(20):
            while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records


async def events_on(settings: KafkaSettings, topic: str, tenant_id: str) -> list[CloudEvent]:
    """Every event of ``tenant_id`` on ``topic`` (an events topic), read up to its end."""
    events = [
        CloudEvent.model_validate_json(record.value)
        for record in await records_on(settings, topic)
        if record.value
    ]
    return [event for event in events if event.tenantid == tenant_id]


class Tail:
    """Reads ``topic`` from the beginning in the background, noting when each record arrived."""

    def __init__(self, settings: KafkaSettings, topic: str) -> None:
        self._settings = settings
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers, fetch_max_wait_ms=20
        )
        self._topic = topic
        self.records: list[tuple[float, ConsumerRecord[bytes, bytes]]] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Tail:
        await ensure_topics(self._settings, [self._topic])
        await self._consumer.start()
        try:
            await self._consumer.topics()
            partitions = [
                TopicPartition(self._topic, p)
                for p in self._consumer.partitions_for_topic(self._topic) or ()
            ]
            self._consumer.assign(partitions)
            await self._consumer.seek_to_beginning(*partitions)
        except BaseException:
            await self._consumer.stop()
            raise
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=100)
            arrived = time.time()
            for batch in batches.values():
                self.records.extend((arrived, record) for record in batch)

    async def until(self, count: int, what: str, within: float = 30) -> None:
        async def enough() -> bool:
            return len(self.records) >= count

        await eventually(enough, what, within)

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._consumer.stop()


DELAYED_WORKFLOW = WorkflowDefinition.model_validate(
    {
        "name": "Follow up after five seconds",
        "trigger": "customer.created",
        "actions": [
            {"type": "delay", "duration": "5 seconds"},
            {"type": "webhook", "url": "https://example.com/hook"},
        ],
        "status": "active",
    }
)


def parked(
    tenant_id: str, n: int, due_at: datetime, *, timer: str | None = None, step: int = 1
) -> DeferredExecution:
    """Execution ``n`` of ``tenant_id`` parked at its delay step until ``due_at``."""
    request = ExecutionRequest(
        execution_id=f"exe_{tenant_id}_{n}",
        tenant_id=tenant_id,
        workflow_id=f"wf_{n % 3}",
        workflow_version=1,
        workflow=DELAYED_WORKFLOW,
        event=CloudEvent(
            id=f"evt_{n}", source="native", type="customer.created", tenantid=tenant_id
        ),
        resumption=Resumption(
            timer_id=timer or f"timer_{tenant_id}_{n}", reason="delay", step=step, due_at=due_at
        ),
    )
    return DeferredExecution(request=request)
