"""``cron_schedules``: saving learned schedules, claiming and advancing due ones; and
``changelog_progress``, how far the changelog has been read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.scheduler.adapters.postgres.queries import QUERIES
from services.scheduler.domain import CronFiring, CronSchedule, CronSpec, ScheduleRecord
from shared.postgres import Pool


@dataclass(frozen=True, slots=True)
class _ClaimedSchedules:
    """Rows locked ``FOR UPDATE`` by the open transaction on ``connection``."""

    connection: PoolConnectionProxy[asyncpg.Record]
    schedules: Sequence[CronSchedule]

    async def advance(self, firings: Sequence[CronFiring]) -> None:
        await self.connection.executemany(
            QUERIES.advance_schedule,
            [(firing.schedule.workflow_id, firing.next_fire_at) for firing in firings],
        )


class PostgresScheduleStore:
    """``ScheduleStore`` on PostgreSQL; row locks (``SKIP LOCKED``) keep replicas apart.

    A slot is claimable once every partition of ``changelog_topic`` has been read past it
    (``PostgresChangelogProgress``).
    """

    def __init__(self, pool: Pool, *, changelog_topic: str) -> None:
        self._pool = pool
        self._topic = changelog_topic

    async def save(self, records: Sequence[ScheduleRecord]) -> None:
        rows = [
            (
                record.workflow_id,
                record.tenant_id,
                record.version,
                record.spec.cron if record.spec else None,
                record.spec.timezone if record.spec else None,
                record.next_fire_at,
                record.spec.catch_up if record.spec else "once",
            )
            for record in records
        ]
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.executemany(QUERIES.save_schedule, rows)

    @asynccontextmanager
    async def claim_due(self, now: datetime, limit: int) -> AsyncIterator[_ClaimedSchedules]:
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(QUERIES.claim_due_schedules, now, limit, self._topic)
            yield _ClaimedSchedules(connection, [_due_schedule(row) for row in rows])


def _due_schedule(row: asyncpg.Record) -> CronSchedule:
    return CronSchedule(
        workflow_id=row["workflow_id"],
        tenant_id=row["tenant_id"],
        version=row["version"],
        spec=CronSpec(row["cron"], row["timezone"], row["catch_up"]),
        next_fire_at=row["next_fire_at"],
    )


class PostgresChangelogProgress:
    """How far each changelog partition has been read, shared by every replica."""

    def __init__(self, pool: Pool, *, topic: str) -> None:
        self._pool = pool
        self._topic = topic

    async def add_partitions(self, partitions: Iterable[int]) -> None:
        """Make every partition count (unread until a reader records it) — called at start with
        the topic's partitions, so that an unread partition holds the slots back."""
        await self._pool.execute(QUERIES.add_changelog_partitions, self._topic, list(partitions))

    async def read_through(self, partitions: Iterable[int], instant: datetime) -> None:
        """Every record of ``partitions`` produced before ``instant`` has been learned."""
        await self._pool.execute(
            QUERIES.record_changelog_progress, self._topic, list(partitions), instant
        )
