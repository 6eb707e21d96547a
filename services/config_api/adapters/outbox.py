"""The outbox relay: publishes committed changes to Kafka in order, then deletes them.

Order per workflow holds across API replicas because one relay at a time holds a transaction-
scoped advisory lock while it publishes. A relay that dies after the broker acknowledged but
before its transaction committed leaves the rows in place; the next relay publishes them again
(at-least-once; readers keep the highest version per workflow).
"""

from __future__ import annotations

import asyncio
import json
import logging

from aiokafka import AIOKafkaProducer
from prometheus_client import Counter, Histogram

from services.config_api.adapters.postgres import QUERIES
from shared.kafka import Outgoing, publish_all
from shared.lifecycle import BackgroundLoop
from shared.postgres import Pool

log = logging.getLogger(__name__)

_RELAY_LOCK_ID = 0x0B0C_5E1A

OUTBOX_PUBLISHED = Counter("outbox_records_published_total", "Outbox records relayed to Kafka.")
OUTBOX_RELAY_SECONDS = Histogram(
    "outbox_relay_batch_seconds", "Time to relay one outbox batch (publish and delete)."
)


class OutboxRelay(BackgroundLoop):
    """Relays the outbox until stopped; woken by ``wake`` (set after each local write), polling
    every ``poll_seconds`` for other replicas' rows. ``stop()`` lets the batch in flight finish
    within ``grace_seconds``."""

    def __init__(
        self,
        pool: Pool,
        producer: AIOKafkaProducer,
        *,
        topic_prefix: str,
        wake: asyncio.Event,
        poll_seconds: float,
        batch_size: int,
        grace_seconds: float = 20.0,
    ) -> None:
        super().__init__(name="outbox relay", grace_seconds=grace_seconds, wake=wake)
        self._pool = pool
        self._producer = producer
        self._prefix = topic_prefix
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size

    async def iteration(self) -> None:
        if await self.relay_once() < self._batch_size:
            await self.pause(self._poll_seconds)

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; return how many were relayed."""
        with OUTBOX_RELAY_SECONDS.time():
            async with self._pool.acquire() as connection, connection.transaction():
                if not await connection.fetchval(QUERIES.lock_outbox_relay, _RELAY_LOCK_ID):
                    return 0
                rows = await connection.fetch(QUERIES.claim_outbox, self._batch_size)
                if not rows:
                    return 0
                await publish_all(
                    self._producer,
                    (
                        Outgoing(
                            self._prefix + row["topic"],
                            json.dumps(row["value"], separators=(",", ":")).encode(),
                            row["key"].encode(),
                        )
                        for row in rows
                    ),
                )
                await connection.execute(QUERIES.delete_outbox, [row["id"] for row in rows])
        OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)
