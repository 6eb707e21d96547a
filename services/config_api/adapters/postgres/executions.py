"""Execution history, read through the views the executor publishes (never written here)."""

from __future__ import annotations

import asyncpg

from services.config_api.adapters.postgres.pool import QUERIES, PoolHolder
from services.config_api.domain import Cursor, ExecutionRecord, NotPublished, StepRecord


def _execution(row: asyncpg.Record, steps: tuple[StepRecord, ...] | None) -> ExecutionRecord:
    return ExecutionRecord(
        id=row["id"],
        workflow_id=row["workflow_id"],
        workflow_version=row["workflow_version"],
        trigger=row["trigger_type"],
        event=row["event"],
        status=row["status"],
        error=row["error"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        deadlettered_at=row["deadlettered_at"],
        steps=steps,
    )


def _step(row: asyncpg.Record) -> StepRecord:
    return StepRecord(
        step_index=row["step_index"],
        action_type=row["action_type"],
        status=row["status"],
        attempts=row["attempts"],
        request=row["request"],
        response_status=row["response_status"],
        error=row["error"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        result=row["result"],
    )


class PostgresExecutionReader(PoolHolder):
    """Implements ``handlers.ExecutionReader`` over ``executor_published``.

    Until the executor has published its views, reading raises ``NotPublished`` (a 503).
    """

    async def list_for_workflow(
        self,
        tenant_id: str,
        workflow_id: str,
        *,
        status: str | None,
        before: Cursor | None,
        limit: int,
    ) -> list[ExecutionRecord]:
        try:
            rows = await self._pool.fetch(
                QUERIES.list_executions,
                tenant_id,
                workflow_id,
                status,
                before.created_at if before else None,
                before.id if before else None,
                limit,
            )
        except asyncpg.UndefinedTableError:
            raise NotPublished("executor") from None
        return [_execution(row, None) for row in rows]

    async def get(self, tenant_id: str, execution_id: str) -> ExecutionRecord | None:
        try:
            async with (
                self._pool.acquire() as connection,
                connection.transaction(isolation="repeatable_read", readonly=True),
            ):
                row = await connection.fetchrow(QUERIES.get_execution, tenant_id, execution_id)
                if row is None:
                    return None
                steps = await connection.fetch(
                    QUERIES.list_execution_steps, tenant_id, execution_id
                )
        except asyncpg.UndefinedTableError:
            raise NotPublished("executor") from None
        return _execution(row, tuple(_step(step) for step in steps))
