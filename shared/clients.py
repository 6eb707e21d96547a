"""The connections every service opens at start: its topics, its migrated pool, its producer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from contextlib import AsyncExitStack
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer

from shared.kafka import ensure_topics, kafka_reachable, make_producer
from shared.lifecycle import ReadinessCheck
from shared.postgres import Pool, create_pool, postgres_reachable
from shared.settings import ServiceSettings

Migrate = Callable[[Pool], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Clients:
    pool: Pool
    producer: AIOKafkaProducer

    @property
    def readiness_checks(self) -> list[ReadinessCheck]:
        """PostgreSQL answers and Kafka metadata can be fetched, checked on every /readyz."""
        return [lambda: postgres_reachable(self.pool), lambda: kafka_reachable(self.producer)]


async def open_clients(
    stack: AsyncExitStack,
    settings: ServiceSettings,
    *,
    name: str,
    topics: Iterable[str],
    migrate: Migrate | None = None,
) -> Clients:
    """Create ``topics``, open and ``migrate`` the pool, start the producer.

    Their closing is registered on ``stack``: the producer stops before the pool closes.
    """
    await ensure_topics(settings.kafka, topics)
    pool = await create_pool(settings.postgres, application_name=name)
    stack.push_async_callback(pool.close)
    if migrate is not None:
        await migrate(pool)
    producer = make_producer(settings.kafka, client_id=name)
    await producer.start()
    stack.push_async_callback(producer.stop)
    return Clients(pool=pool, producer=producer)
