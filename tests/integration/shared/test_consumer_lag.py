"""Consumer lag against the real broker: records behind, seconds behind, and the exported gauges."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from shared.kafka import ensure_topics, make_admin, make_consumer, make_producer
from shared.kafka.lag import LagExporter, read_lag, records_behind
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def topic(kafka_settings: KafkaSettings) -> str:
    name = f"{kafka_settings.topic_prefix}lagged"
    await ensure_topics(kafka_settings, [name])
    return name


async def produce(settings: KafkaSettings, topic: str, partition: int, count: int) -> None:
    producer = make_producer(settings, client_id="lag-test")
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(topic, f"r{n}".encode(), partition=partition)
    finally:
        await producer.stop()


async def commit(settings: KafkaSettings, group: str, tp: TopicPartition, offset: int) -> None:
    consumer = make_consumer(settings, group_id=group, client_id="lag-test")
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


@pytest.fixture
async def clients(kafka_settings: KafkaSettings) -> AsyncIterator[tuple[object, object]]:
    admin = make_admin(kafka_settings)
    consumer = make_consumer(kafka_settings, group_id=None, client_id="lag-reader")
    await admin.start()
    await consumer.start()
    try:
        yield admin, consumer
    finally:
        await consumer.stop()
        await admin.close()


def test_records_behind_counts_from_the_log_start_when_nothing_is_committed() -> None:
    assert records_behind(end_offset=10, log_start=0, committed=None) == 10
    assert records_behind(end_offset=10, log_start=4, committed=2) == 6  # fell out of retention
    assert records_behind(end_offset=10, log_start=0, committed=7) == 3
    assert records_behind(end_offset=10, log_start=0, committed=10) == 0


async def test_lag_is_end_minus_committed_and_its_age_is_the_oldest_uncommitted_record(
    kafka_settings: KafkaSettings, topic: str, clients: tuple[object, object]
) -> None:
    admin, consumer = clients
    group = f"group-{uuid.uuid4().hex[:8]}"
    before = time.time()
    await produce(kafka_settings, topic, partition=1, count=5)
    await commit(kafka_settings, group, TopicPartition(topic, 1), 2)
    await asyncio.sleep(0.3)  # so the oldest uncommitted record has a measurable age

    lags = {lag.partition: lag for lag in await read_lag(admin, consumer, group, [topic])}  # type: ignore[arg-type]

    assert sorted(lags) == list(range(kafka_settings.topic_partitions))
    lagged = lags[1]
    assert (lagged.end_offset, lagged.committed, lagged.lag) == (5, 2, 3)
    assert lagged.lag_seconds is not None
    assert 0.3 <= lagged.lag_seconds <= time.time() - before + 1
    for number, lag in lags.items():
        if number != 1:
            assert (lag.lag, lag.lag_seconds, lag.committed) == (0, 0.0, None)


async def test_a_group_that_committed_nothing_lags_by_the_whole_partition(
    kafka_settings: KafkaSettings, topic: str, clients: tuple[object, object]
) -> None:
    admin, consumer = clients
    await produce(kafka_settings, topic, partition=0, count=3)

    lags = await read_lag(admin, consumer, "never-consumed", [topic])  # type: ignore[arg-type]

    assert [(lag.partition, lag.lag) for lag in lags if lag.lag] == [(0, 3)]


async def test_the_exporter_publishes_gauges_per_group_topic_and_partition(
    kafka_settings: KafkaSettings, topic: str
) -> None:
    group = f"group-{uuid.uuid4().hex[:8]}"
    await produce(kafka_settings, topic, partition=2, count=4)
    await commit(kafka_settings, group, TopicPartition(topic, 2), 1)
    settings = kafka_settings.model_copy(update={"lag_interval_seconds": 0.1})
    exporter = LagExporter(settings, {group: [topic]}, client_id="lag-test")
    await exporter.start()
    running = asyncio.create_task(exporter.run())
    labels = {"group": group, "topic": topic, "partition": "2"}
    try:
        async with asyncio.timeout(20):
            while REGISTRY.get_sample_value("kafka_consumer_group_lag", labels) is None:
                await asyncio.sleep(0.05)
    finally:
        await exporter.stop()
        await running

    assert REGISTRY.get_sample_value("kafka_consumer_group_lag", labels) == 3
    seconds = REGISTRY.get_sample_value("kafka_consumer_group_lag_seconds", labels)
    assert seconds is not None
    assert seconds > 0
    assert REGISTRY.get_sample_value("kafka_consumer_group_lag", {**labels, "partition": "0"}) == 0
