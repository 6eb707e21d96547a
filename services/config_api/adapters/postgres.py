"""Workflows in PostgreSQL; every change writes its version and outbox row in one transaction."""

from __future__ import annotations

import asyncio

import asyncpg

from services.config_api.domain import CHANGELOG_TOPIC, Cursor, WorkflowRecord
from shared.contracts import WorkflowDefinition
from shared.postgres import Pool, Queries

QUERIES = Queries.load("services.config_api")


def _record(row: asyncpg.Record) -> WorkflowRecord:
    return WorkflowRecord(
        id=row["id"],
        tenant_id=row["tenant_id"],
        version=row["version"],
        definition=WorkflowDefinition.model_validate(row["definition"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
    )


class PostgresWorkflowRepository:
    """Implements ``handlers.WorkflowRepository``. Every query is scoped by tenant.

    The service attaches ``pool`` once connected (routes answer 503 until then).
    """

    def __init__(self, *, changes_written: asyncio.Event) -> None:
        self.pool: Pool | None = None
        self._changes_written = changes_written

    @property
    def _pool(self) -> Pool:
        if self.pool is None:
            raise RuntimeError("the repository is used before the service connected")
        return self.pool

    async def create(
        self, *, workflow_id: str, tenant_id: str, definition: WorkflowDefinition, actor: str
    ) -> WorkflowRecord:
        stored = definition.model_dump(mode="json", exclude={"active"})
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                QUERIES.insert_workflow,
                workflow_id,
                tenant_id,
                definition.name,
                definition.trigger,
                definition.status,
                stored,
                actor,
            )
            if row is None:
                raise RuntimeError("INSERT ... RETURNING gave no row")
            record = _record(row)
            await connection.execute(
                QUERIES.insert_version, workflow_id, record.version, tenant_id, stored, actor
            )
            change = record.change()
            await connection.execute(
                QUERIES.insert_outbox, CHANGELOG_TOPIC, change.key, change.model_dump(mode="json")
            )
        self._changes_written.set()
        return record

    async def republish_all(self) -> int:
        """Queue every workflow's current version for the changelog; returns how many."""
        status = await self._pool.execute(QUERIES.republish_all_workflows, CHANGELOG_TOPIC)
        self._changes_written.set()
        return int(status.split()[-1])

    async def get(self, tenant_id: str, workflow_id: str) -> WorkflowRecord | None:
        row = await self._pool.fetchrow(QUERIES.get_workflow, tenant_id, workflow_id)
        return _record(row) if row is not None else None

    async def list(
        self,
        tenant_id: str,
        *,
        status: str | None,
        trigger: str | None,
        after: Cursor | None,
        limit: int,
    ) -> list[WorkflowRecord]:
        rows = await self._pool.fetch(
            QUERIES.list_workflows,
            tenant_id,
            status,
            trigger,
            after.created_at if after else None,
            after.id if after else None,
            limit,
        )
        return [_record(row) for row in rows]
