"""The audit log: written inside each change's transaction, read newest first."""

from __future__ import annotations

import asyncpg

from services.config_api.adapters.postgres.pool import QUERIES, PoolHolder
from services.config_api.domain import AuditChange, AuditRecord
from shared.tenancy import Queryable


async def write_audit(db: Queryable, tenant_id: str, actor: str, change: AuditChange) -> None:
    """Record ``change``; pass the connection of the change's transaction."""
    await db.execute(
        QUERIES.insert_audit,
        tenant_id,
        actor,
        change.action,
        change.resource_type,
        change.resource_id,
        change.before,
        change.after,
    )


def _record(row: asyncpg.Record) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        actor=row["actor"],
        action=row["action"],
        resource_type=row["resource_type"],
        resource_id=row["resource_id"],
        before=row["before"],
        after=row["after"],
        at=row["at"],
    )


class PostgresAuditLog(PoolHolder):
    """Implements ``handlers.AuditReader``."""

    async def list(
        self,
        tenant_id: str,
        *,
        resource_type: str | None,
        resource_id: str | None,
        before: int | None,
        limit: int,
    ) -> list[AuditRecord]:
        rows = await self._pool.fetch(
            QUERIES.list_audit, tenant_id, resource_type, resource_id, before, limit
        )
        return [_record(row) for row in rows]
