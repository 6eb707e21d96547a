"""The ``cron_schedules`` table: saving learned schedules, claiming and advancing due ones."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.scheduler.domain import CronFiring, CronSchedule, CronSpec, ScheduleRecord
from shared.postgres import Pool, Queries, apply_migrations

_QUERIES = Queries.load("services.scheduler")


async def migrate(pool: Pool) -> None:
    await apply_migrations(pool, owner="scheduler", package="services.scheduler")


@dataclass(frozen=True, slots=True)
class _ClaimedSchedules:
    """Rows locked ``FOR UPDATE`` by the open transaction on ``connection``."""

    connection: PoolConnectionProxy[asyncpg.Record]
    schedules: Sequence[CronSchedule]

    async def advance(self, firings: Sequence[CronFiring]) -> None:
        await self.connection.executemany(
            _QUERIES.advance_schedule,
            [(firing.schedule.workflow_id, firing.next_fire_at) for firing in firings],
        )


class PostgresScheduleStore:
    """``ScheduleStore`` on PostgreSQL; row locks (``SKIP LOCKED``) keep replicas apart."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def save(self, records: Sequence[ScheduleRecord]) -> None:
        rows = [
            (
                record.workflow_id,
                record.tenant_id,
                record.version,
                record.spec.cron if record.spec else None,
                record.spec.timezone if record.spec else None,
                record.next_fire_at,
            )
            for record in records
        ]
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.executemany(_QUERIES.save_schedule, rows)

    @asynccontextmanager
    async def claim_due(self, now: datetime, limit: int) -> AsyncIterator[_ClaimedSchedules]:
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(_QUERIES.claim_due_schedules, now, limit)
            yield _ClaimedSchedules(connection, [_due_schedule(row) for row in rows])


def _due_schedule(row: asyncpg.Record) -> CronSchedule:
    return CronSchedule(
        workflow_id=row["workflow_id"],
        tenant_id=row["tenant_id"],
        version=row["version"],
        spec=CronSpec(row["cron"], row["timezone"]),
        next_fire_at=row["next_fire_at"],
    )
