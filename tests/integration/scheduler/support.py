"""What the scheduler's integration tests share: a hand clock, replicas, reading topics back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from pydantic import BaseModel

from services.scheduler.service import ScheduleService
from services.scheduler.settings import SchedulerSettings
from shared.contracts import CloudEvent
from shared.kafka import Outgoing, make_producer, publish_all
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
