"""Manual runs (queued in the outbox for ``executions.requested``) and the reads across
executions: the runs page and the stats strip, over ``executor_published``."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from services.config_api.adapters.postgres.audit import write_audit
from services.config_api.adapters.postgres.pool import QUERIES, PoolHolder
from services.config_api.adapters.postgres.workflows import CommittedChanges, workflow_record
from services.config_api.domain import AuditChange, Cursor, NotPublished
from services.config_api.domain.runs import (
    REQUESTS_TOPIC,
    LastRun,
    RunFilters,
    RunRow,
    WorkflowStats,
    run_accepted,
)
from services.config_api.handlers.runs import Plan
from shared.contracts import ExecutionRequest
from shared.postgres import Pool

_STATUS_COLUMNS = (
    "running",
    "waiting",
    "succeeded",
    "succeeded_with_errors",
    "failed",
    "throttled",
    "exited",
)


def _run_row(row: asyncpg.Record) -> RunRow:
    return RunRow(
        id=row["id"],
        workflow_id=row["workflow_id"],
        workflow_name=row["workflow_name"],
        workflow_version=row["workflow_version"],
        trigger=row["trigger_type"],
        event_type=row["event_type"],
        status=row["status"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        first_error=row["first_error"],
    )


class PostgresRuns(PoolHolder):
    """Implements ``handlers.RunRepository``.

    A run's request is published right after its commit (``outbox.publish_committed``, as saves
    are), keyed by workflow id like every request; if that fails or times out the row stays
    and ``changes_written`` wakes the relay.
    """

    def __init__(self, *, changes_written: asyncio.Event, pool: Pool | None = None) -> None:
        super().__init__(pool)
        self._changes_written = changes_written
        self.outbox: CommittedChanges | None = None

    async def request_run(
        self, tenant_id: str, workflow_id: str, plan: Plan, *, actor: str
    ) -> ExecutionRequest | None:
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(QUERIES.share_workflow, tenant_id, workflow_id)
            if row is None:
                return None
            request = plan(workflow_record(row))
            await connection.execute(
                QUERIES.insert_outbox,
                REQUESTS_TOPIC,
                workflow_id,
                request.model_dump(mode="json", by_alias=True),
            )
            forced = request.workflow.status != "active"
            await write_audit(
                connection,
                tenant_id,
                actor,
                AuditChange(
                    "run", "workflow", workflow_id, None, run_accepted(request, forced=forced)
                ),
            )
        if self.outbox is None or not await self.outbox.publish_committed(workflow_id):
            self._changes_written.set()
        return request

    async def list_runs(
        self, tenant_id: str, filters: RunFilters, *, before: Cursor | None, limit: int
    ) -> list[RunRow]:
        try:
            async with self._pool.acquire() as connection, connection.transaction(readonly=True):
                # A plan for the filters given: a generic plan cannot choose the status index
                # for a status tab, nor drop the filters that are not set.
                await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
                rows = await connection.fetch(
                    QUERIES.list_runs,
                    tenant_id,
                    filters.status,
                    filters.workflow_id,
                    filters.trigger,
                    filters.since,
                    filters.until,
                    before.created_at if before else None,
                    before.id if before else None,
                    limit,
                )
        except asyncpg.UndefinedTableError:
            raise NotPublished("executor") from None
        return [_run_row(row) for row in rows]

    async def stats(
        self, tenant_id: str, workflow_id: str, *, window: str, since: datetime, until: datetime
    ) -> WorkflowStats:
        try:
            async with (
                self._pool.acquire() as connection,
                connection.transaction(isolation="repeatable_read", readonly=True),
            ):
                figures = await connection.fetchrow(
                    QUERIES.workflow_stats, tenant_id, workflow_id, since, until
                )
                last = await connection.fetchrow(QUERIES.last_run, tenant_id, workflow_id)
        except asyncpg.UndefinedTableError:
            raise NotPublished("executor") from None
        if figures is None:
            raise RuntimeError("an aggregate gave no row")
        durations = figures["durations"]
        return WorkflowStats(
            workflow_id=workflow_id,
            window=window,
            since=since,
            until=until,
            by_status={status: figures[status] for status in _STATUS_COLUMNS},
            median_ms=durations[0] if durations else None,
            p95_ms=durations[1] if durations else None,
            last_run=LastRun(last["id"], last["status"], last["created_at"], last["finished_at"])
            if last is not None
            else None,
        )
