"""``timers``: parked execution requests, claimed and deleted in due order."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime

import asyncpg

from services.scheduler.adapters.postgres.queries import QUERIES
from services.scheduler.domain import Timer
from shared.postgres import Pool


class PostgresTimerStore:
    """``TimerStore`` on PostgreSQL: a claim deletes its rows in a transaction that commits only
    when the claim ends cleanly (after the broker's acks); ``SKIP LOCKED`` keeps replicas apart."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def save(self, timers: Sequence[Timer]) -> None:
        rows = [
            (
                t.timer_id,
                t.due_at,
                t.tenant_id,
                t.workflow_id,
                t.execution_id,
                t.reason,
                t.step,
                t.request.decode(),
            )
            for t in timers
        ]
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.executemany(QUERIES.save_timer, rows)

    @asynccontextmanager
    async def claim_due(self, now: datetime, limit: int) -> AsyncIterator[Sequence[Timer]]:
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(QUERIES.claim_due_timers, now, limit)
            yield [_timer(row) for row in rows]

    async def next_due_after(self, now: datetime) -> datetime | None:
        due: datetime | None = await self._pool.fetchval(QUERIES.next_timer_due, now)
        return due


def _timer(row: asyncpg.Record) -> Timer:
    return Timer(
        timer_id=row["timer_id"],
        due_at=row["due_at"],
        tenant_id=row["tenant_id"],
        workflow_id=row["workflow_id"],
        execution_id=row["execution_id"],
        reason=row["reason"],
        step=row["step"],
        request=row["request"].encode(),
    )
