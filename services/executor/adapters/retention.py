"""Execution retention: finished executions and their step logs older than the window go.

Deleted in small batches, each its own short transaction (the rows locked ``SKIP LOCKED``, the
steps first, then the executions), so no lock is held for long and replicas purging at once
never wait on each other. Running and waiting (parked) executions are never deleted.
"""

from __future__ import annotations

import logging

from prometheus_client import Counter

from shared.lifecycle import BackgroundLoop, is_connection_error
from shared.postgres import Pool, Queries

log = logging.getLogger(__name__)

_QUERIES = Queries.load("services.executor")

RETENTION_DELETED = Counter(
    "executor_retention_deleted_rows_total",
    "Rows deleted by execution retention, by table (executions, execution_steps).",
    ["table"],
)


async def delete_expired(pool: Pool, *, days: int, batch: int) -> tuple[int, int]:
    """Delete one batch of finished executions older than ``days`` days (the database's clock)
    with their steps; returns how many executions and steps went."""
    async with pool.acquire() as connection, connection.transaction():
        ids = [
            row["id"]
            for row in await connection.fetch(_QUERIES.lock_expired_executions, days, batch)
        ]
        if not ids:
            return 0, 0
        steps = await connection.execute(_QUERIES.delete_execution_steps, ids)
        executions = await connection.execute(_QUERIES.delete_executions, ids)
    deleted = int(executions.split()[-1]), int(steps.split()[-1])
    RETENTION_DELETED.labels("executions").inc(deleted[0])
    RETENTION_DELETED.labels("execution_steps").inc(deleted[1])
    return deleted


class RetentionLoop(BackgroundLoop):
    """Keeps executions to ``days`` days after they finished: a batch at a time, the next at
    once while batches come back full (after ``pause_seconds``, to let other writers through),
    else again after ``interval_seconds``.

    An unreachable database is retried next round; any other failure stops the service.
    """

    def __init__(
        self,
        pool: Pool,
        *,
        days: int,
        batch: int,
        interval_seconds: float,
        pause_seconds: float = 0.05,
        grace_seconds: float = 20.0,
    ) -> None:
        super().__init__(name="execution retention", grace_seconds=grace_seconds)
        self._pool = pool
        self._days = days
        self._batch = batch
        self._interval = interval_seconds
        self._pause = pause_seconds

    async def iteration(self) -> None:
        try:
            executions, _ = await delete_expired(self._pool, days=self._days, batch=self._batch)
        except Exception as error:
            if not is_connection_error(error):
                raise
            log.warning("execution retention failed; retrying", extra={"error": repr(error)})
            executions = 0
        await self.pause(self._pause if executions >= self._batch else self._interval)
