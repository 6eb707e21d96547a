"""``tenant_clocks`` and ``revenue_events``: the revenue ledger and the daily summaries' clocks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.scheduler.adapters.postgres.queries import QUERIES
from services.scheduler.domain import RevenueObservation, TenantClock, TypeTotal
from shared.postgres import Pool


@dataclass(frozen=True, slots=True)
class _ClaimedClocks:
    connection: PoolConnectionProxy[asyncpg.Record]
    clocks: Sequence[TenantClock]

    async def totals(self, tenant_id: str, first_day: date, last_day: date) -> list[TypeTotal]:
        rows = await self.connection.fetch(QUERIES.revenue_totals, tenant_id, first_day, last_day)
        return [TypeTotal(row["event_type"], row["count"], row["value"]) for row in rows]

    async def advance(self, clocks: Sequence[TenantClock], *, retention_days: int) -> None:
        await self.connection.executemany(
            QUERIES.advance_tenant_clock,
            [(c.tenant_id, c.summary_day, c.summary_at) for c in clocks],
        )
        await self.connection.executemany(
            QUERIES.prune_revenue_events,
            [(c.tenant_id, c.summary_day - timedelta(days=retention_days)) for c in clocks],
        )


class PostgresRevenue:
    """``RevenueLedger`` and ``TenantClockStore`` on PostgreSQL.

    An event whose day's summary went out counts in the next one if it is at most
    ``late_days`` late; an older one (history read again) is remembered but never counted.
    """

    def __init__(self, pool: Pool, *, late_days: int = 2) -> None:
        self._pool = pool
        self._late_days = late_days

    async def record(self, observations: Sequence[RevenueObservation]) -> None:
        rows = [
            (o.tenant_id, o.event_id, o.event_type, o.day, o.value, self._late_days)
            for o in observations
        ]
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.executemany(QUERIES.record_revenue_event, rows)

    async def clocks(self) -> list[TenantClock]:
        return [_clock(row) for row in await self._pool.fetch(QUERIES.tenant_clocks)]

    async def save(self, clocks: Sequence[TenantClock]) -> None:
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.executemany(
                QUERIES.save_tenant_clock,
                [(c.tenant_id, c.timezone, c.summary_day, c.summary_at) for c in clocks],
            )

    @asynccontextmanager
    async def claim_due(self, now: datetime, limit: int) -> AsyncIterator[_ClaimedClocks]:
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(QUERIES.claim_due_summaries, now, limit)
            yield _ClaimedClocks(connection, [_clock(row) for row in rows])


def _clock(row: asyncpg.Record) -> TenantClock:
    return TenantClock(row["tenant_id"], row["timezone"], row["summary_day"], row["summary_at"])
