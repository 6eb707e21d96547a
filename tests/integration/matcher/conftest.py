"""Fixtures of the matcher's integration tests: settings, topics, a producer, a running matcher."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer

from services.matcher.service import MatcherService
from services.matcher.settings import MatcherSettings
from shared.contracts import Topics
from shared.kafka import tenant_partitioner
from shared.settings import KafkaSettings, PostgresSettings


@pytest.fixture
def settings(kafka_settings: KafkaSettings, postgres_settings: PostgresSettings) -> MatcherSettings:
    return MatcherSettings(
        host="127.0.0.1", port=0, kafka=kafka_settings, postgres=postgres_settings
    )


@pytest.fixture
def topics(kafka_settings: KafkaSettings) -> Topics:
    return Topics(kafka_settings.topic_prefix)


@pytest.fixture
async def producer(kafka_settings: KafkaSettings) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_settings.bootstrap_servers,
        partitioner=tenant_partitioner,
        acks="all",
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@pytest.fixture
async def matcher(settings: MatcherSettings) -> AsyncIterator[MatcherService]:
    service = MatcherService(settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
