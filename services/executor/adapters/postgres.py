"""The executions and execution_steps tables: opening an execution, the step log, finishing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.executor.domain import ExecutionProgress, ExecutionStatus, StepRecord
from services.executor.handlers import ExecutionStore
from shared.contracts import ExecutionRequest
from shared.postgres import Pool, Queries, apply_migrations

_QUERIES = Queries.load("services.executor")


async def migrate(pool: Pool) -> None:
    await apply_migrations(pool, owner="executor", package="services.executor")


class PostgresExecutionStore(ExecutionStore):
    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def open(self, request: ExecutionRequest) -> ExecutionProgress | None:
        async with self._pool.acquire() as connection:
            row = await connection.fetchrow(
                _QUERIES.open_execution,
                request.execution_id,
                request.tenant_id,
                request.workflow_id,
                request.workflow_version,
                request.workflow.trigger,
                request.event.model_dump(mode="json"),
            )
            if row is None:
                return None
            succeeded = await connection.fetch(
                _QUERIES.done_steps, request.execution_id, request.tenant_id
            )
        return ExecutionProgress(
            status=row["status"],
            done_steps=frozenset(step["step_index"] for step in succeeded),
            error=row["error"],
            dead_lettered=row["deadlettered_at"] is not None,
        )

    async def record_step(self, record: StepRecord) -> None:
        outcome = record.outcome
        error = outcome.error
        await self._pool.execute(
            _QUERIES.record_step,
            record.execution_id,
            record.tenant_id,
            record.step_index,
            record.action_type,
            outcome.status,
            outcome.attempts,
            dict(outcome.request),
            outcome.response_status,
            {"code": error.code, "message": error.message} if error is not None else None,
            record.started_at,
            record.finished_at,
            dict(outcome.result),
        )

    async def finish(
        self,
        tenant_id: str,
        execution_id: str,
        status: ExecutionStatus,
        error: Mapping[str, Any] | None,
    ) -> None:
        await self._pool.execute(
            _QUERIES.finish_execution,
            execution_id,
            tenant_id,
            status,
            dict(error) if error is not None else None,
        )

    async def mark_dead_lettered(self, tenant_id: str, execution_id: str) -> None:
        await self._pool.execute(_QUERIES.mark_dead_lettered, execution_id, tenant_id)
