"""Workflows in PostgreSQL; every change writes its version, outbox row and audit row at once."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg

from services.config_api.adapters.postgres.audit import write_audit
from services.config_api.adapters.postgres.pool import QUERIES, PoolHolder
from services.config_api.domain import (
    CHANGELOG_TOPIC,
    AuditChange,
    ChainNode,
    Cursor,
    Precondition,
    VersionRecord,
    WorkflowRecord,
    chain_graph,
    stored_definition,
    workflow_state,
)
from services.config_api.handlers.workflows import Decide
from shared.contracts import WorkflowChange, WorkflowDefinition
from shared.postgres import Pool
from shared.tenancy import Queryable


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


workflow_record = _record
"""A workflows row as a ``WorkflowRecord`` (also for the manual runs' repository)."""


def _version(row: asyncpg.Record) -> VersionRecord:
    return VersionRecord(
        workflow_id=row["workflow_id"],
        version=row["version"],
        definition=row["definition"],
        created_at=row["created_at"],
        created_by=row["created_by"],
        change=row["change"],
        restored_from=row["restored_from"],
    )


class CommittedChanges(Protocol):
    async def publish_committed(self, key: str) -> bool:
        """Publish the committed outbox rows of ``key``, in order, and delete them once
        acknowledged; False if the broker did not acknowledge in time (they stay for the relay)."""


async def _announce(db: Queryable, change: WorkflowChange) -> str:
    """Queue the changelog record in the change's transaction; returns its key, to publish
    once the transaction committed."""
    value = change.model_dump(mode="json", by_alias=True)
    await db.execute(QUERIES.insert_outbox, CHANGELOG_TOPIC, change.key, value)
    return change.key


class PostgresWorkflowRepository(PoolHolder):
    """Implements ``handlers.WorkflowRepository``. Every query is scoped by tenant.

    Read your writes: a change returns only once its changelog record is on the broker —
    ``outbox.publish_committed`` publishes it right after the commit and awaits the ack within
    a bound. If that fails or times out (or before the service connected), the outbox row stays
    and ``changes_written`` wakes the relay, which publishes it (the fallback).
    """

    def __init__(self, *, changes_written: asyncio.Event, pool: Pool | None = None) -> None:
        super().__init__(pool)
        self._changes_written = changes_written
        self.outbox: CommittedChanges | None = None

    async def _published(self, key: str) -> None:
        if self.outbox is None or not await self.outbox.publish_committed(key):
            self._changes_written.set()

    async def create(
        self,
        *,
        workflow_id: str,
        tenant_id: str,
        definition: WorkflowDefinition,
        actor: str,
        action: str = "create",
        note: dict[str, Any] | None = None,
        within: Callable[[Queryable], Awaitable[None]] | None = None,
    ) -> WorkflowRecord:
        """``within``: another write of the same transaction, made first (a template's usage
        count); if it raises, nothing is stored."""
        stored = stored_definition(definition)
        async with self._pool.acquire() as connection, connection.transaction():
            if within is not None:
                await within(connection)
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
                QUERIES.insert_version,
                workflow_id,
                record.version,
                tenant_id,
                stored,
                actor,
                "created",
                None,
            )
            announced = await _announce(connection, record.change())
            after = {**workflow_state(record.version, stored), **(note or {})}
            await write_audit(
                connection,
                tenant_id,
                actor,
                AuditChange(action, "workflow", workflow_id, None, after),
            )
        await self._published(announced)
        return record

    async def revise(
        self, tenant_id: str, workflow_id: str, decide: Decide, *, actor: str
    ) -> WorkflowRecord | None:
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(QUERIES.lock_workflow, tenant_id, workflow_id)
            if row is None:
                return None
            current = _record(row)
            revision = decide(current)
            if revision is None:
                return current
            definition = revision.definition
            stored = stored_definition(definition)
            updated = await connection.fetchrow(
                QUERIES.update_workflow,
                tenant_id,
                workflow_id,
                current.version + 1,
                definition.name,
                definition.trigger,
                definition.status,
                stored,
            )
            if updated is None:
                raise RuntimeError("the locked workflow row is gone")
            record = _record(updated)
            await connection.execute(
                QUERIES.insert_version,
                workflow_id,
                record.version,
                tenant_id,
                stored,
                actor,
                revision.change,
                revision.restored_from,
            )
            announced = await _announce(connection, record.change())
            after = workflow_state(record.version, stored)
            if revision.restored_from is not None:
                after["restoredFrom"] = revision.restored_from
            before = workflow_state(current.version, row["definition"])
            await write_audit(
                connection,
                tenant_id,
                actor,
                AuditChange(revision.action, "workflow", workflow_id, before, after),
            )
        await self._published(announced)
        return record

    async def delete(
        self, tenant_id: str, workflow_id: str, *, precondition: Precondition | None, actor: str
    ) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            # The stored definition is not parsed: a workflow the model has since outgrown can
            # still be deleted.
            row = await connection.fetchrow(QUERIES.lock_workflow, tenant_id, workflow_id)
            if row is None:
                return False
            if precondition is not None:
                precondition.check(row["version"])
            version = row["version"] + 1
            deleted_at = await connection.fetchval(
                QUERIES.insert_version,
                workflow_id,
                version,
                tenant_id,
                None,
                actor,
                "deleted",
                None,
            )
            removal = WorkflowChange(
                tenant_id=tenant_id,
                workflow_id=workflow_id,
                version=version,
                workflow=None,
                changed_at=deleted_at,
            )
            announced = await _announce(connection, removal)
            before = workflow_state(row["version"], row["definition"])
            await write_audit(
                connection,
                tenant_id,
                actor,
                AuditChange("delete", "workflow", workflow_id, before, None),
            )
            await connection.execute(QUERIES.delete_workflow, tenant_id, workflow_id)
        await self._published(announced)
        return True

    async def republish_all(self) -> int:
        """Queue every workflow's current version for the changelog; returns how many."""
        status = await self._pool.execute(QUERIES.republish_all_workflows, CHANGELOG_TOPIC)
        self._changes_written.set()
        return int(status.split()[-1])

    async def get(self, tenant_id: str, workflow_id: str) -> WorkflowRecord | None:
        row = await self._pool.fetchrow(QUERIES.get_workflow, tenant_id, workflow_id)
        return _record(row) if row is not None else None

    async def chain_graph(self, tenant_id: str) -> dict[str, ChainNode]:
        rows = await self._pool.fetch(QUERIES.chain_graph, tenant_id)
        return chain_graph([(row["id"], row["trigger"], row["targets"]) for row in rows])

    async def known(self, tenant_id: str, workflow_id: str) -> bool:
        return bool(await self._pool.fetchval(QUERIES.workflow_known, tenant_id, workflow_id))

    async def versions(
        self, tenant_id: str, workflow_id: str, *, before: int | None, limit: int
    ) -> list[VersionRecord]:
        rows = await self._pool.fetch(QUERIES.list_versions, tenant_id, workflow_id, before, limit)
        return [_version(row) for row in rows]

    async def version(self, tenant_id: str, workflow_id: str, number: int) -> VersionRecord | None:
        row = await self._pool.fetchrow(QUERIES.get_version, tenant_id, workflow_id, number)
        return _version(row) if row is not None else None

    # Last: a method named `list` shadows the builtin in the annotations after it.
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
