"""The outbox relay: publishes committed changes to Kafka, then deletes them.

A change is published by the request that made it, right after its commit
(``publish_committed``: the API answers once the broker acknowledged, so that what it saved is
what an event accepted next is matched against). It locks its workflow's pending rows (the
older ones first, if an earlier save left any), publishes them in order and deletes them, so
one workflow's records reach the changelog in version order across requests and replicas.
The relay is the fallback for what that did not publish in time — a slow broker, a crash
between commit and ack — and publishes those in row order, one relay at a time (a
transaction-scoped advisory lock), skipping rows a save holds. A row can still be published
twice (a save that timed out after its send, a relay that died before its delete committed):
at-least-once, and readers keep the highest version per workflow.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Histogram

from services.config_api.adapters.postgres import QUERIES
from services.config_api.adapters.postgres.workflows import CommittedChanges
from shared.kafka import Outgoing, publish_all
from shared.lifecycle import BackgroundLoop, wait_out_outages
from shared.postgres import Pool

log = logging.getLogger(__name__)

_RELAY_LOCK_ID = 0x0B0C_5E1A

OUTBOX_PUBLISHED = Counter("outbox_records_published_total", "Outbox records relayed to Kafka.")
OUTBOX_RELAY_SECONDS = Histogram(
    "outbox_relay_batch_seconds", "Time to relay one outbox batch (publish and delete)."
)
CHANGES_PUBLISHED = Counter(
    "outbox_changes_published_total",
    "Committed changes published by the request that made them, by outcome: acknowledged "
    "(the answer waited for it) or deferred (not acknowledged in time; left to the relay).",
    ["outcome"],
)
PUBLISH_SECONDS = Histogram(
    "outbox_change_publish_seconds",
    "From a change's commit to the broker's ack of its changelog record (the save's extra wait).",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


class OutboxRelay(BackgroundLoop, CommittedChanges):
    """Relays the outbox until stopped; woken by ``wake`` (set when a change was not published
    by its request), polling every ``poll_seconds`` for other replicas' rows. ``stop()`` lets
    the batch in flight finish within ``grace_seconds``. ``publish_committed`` is the request's
    own publication, bounded by ``publish_timeout_seconds``."""

    def __init__(
        self,
        pool: Pool,
        producer: AIOKafkaProducer,
        *,
        topic_prefix: str,
        wake: asyncio.Event,
        poll_seconds: float,
        batch_size: int,
        publish_timeout_seconds: float = 5.0,
        grace_seconds: float = 20.0,
    ) -> None:
        super().__init__(name="outbox relay", grace_seconds=grace_seconds, wake=wake)
        self._pool = pool
        self._producer = producer
        self._prefix = topic_prefix
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._publish_timeout = publish_timeout_seconds

    async def publish_committed(self, key: str) -> bool:
        """Publish the pending rows of ``key`` (a save's, just committed), then delete them.

        Returns once the broker acknowledged every one (True), or after
        ``publish_timeout_seconds`` or a broker error (False: nothing is deleted, the relay
        publishes them). Waits while the relay holds one of them, which it then publishes.
        """
        with PUBLISH_SECONDS.time():
            try:
                async with (
                    asyncio.timeout(self._publish_timeout),
                    self._pool.acquire() as connection,
                    connection.transaction(),
                ):
                    rows = await connection.fetch(QUERIES.lock_pending_changes, key)
                    if rows:
                        await publish_all(self._producer, self._outgoing(rows))
                        await connection.execute(QUERIES.delete_outbox, [row["id"] for row in rows])
            except (TimeoutError, KafkaError, asyncpg.PostgresError, OSError) as error:
                CHANGES_PUBLISHED.labels("deferred").inc()
                log.warning(
                    "changelog record not published by its save; the outbox relay publishes it",
                    extra={"key": key, "error": repr(error)},
                )
                return False
        CHANGES_PUBLISHED.labels("acknowledged").inc()
        return True

    def _outgoing(self, rows: Iterable[asyncpg.Record]) -> Iterable[Outgoing]:
        return (
            Outgoing(
                self._prefix + row["topic"],
                json.dumps(row["value"], separators=(",", ":")).encode(),
                row["key"].encode(),
            )
            for row in rows
        )

    async def iteration(self) -> None:
        # A batch whose transaction fails with the database (or broker) unreachable was rolled
        # back: its rows are still pending, relayed again once the dependency is back.
        if await wait_out_outages(self.relay_once, what=self.name) < self._batch_size:
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
                await publish_all(self._producer, self._outgoing(rows))
                await connection.execute(QUERIES.delete_outbox, [row["id"] for row in rows])
        OUTBOX_PUBLISHED.inc(len(rows))
        return len(rows)
