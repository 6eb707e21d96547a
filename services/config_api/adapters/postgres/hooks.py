"""Workflows' inbound hooks in PostgreSQL (``workflow_hooks``), each issue audited in its
transaction; ingest reads them through ``config_api_published.workflow_hooks``."""

from __future__ import annotations

import asyncpg

from services.config_api.adapters.postgres.audit import write_audit
from services.config_api.adapters.postgres.pool import QUERIES, PoolHolder
from services.config_api.domain import AuditChange
from services.config_api.domain.hooks import HOOK_TRIGGER, HookStatus, not_a_hook_workflow
from shared.postgres import Queries

_HOOKS = Queries.load("services.config_api", "hooks.sql")


def _status(row: asyncpg.Record) -> HookStatus:
    return HookStatus(
        workflow_id=row["workflow_id"],
        token_prefix=row["token_prefix"],
        created_at=row["created_at"],
        rotated_at=row["rotated_at"],
    )


class PostgresWorkflowHooks(PoolHolder):
    """Implements ``handlers.hooks.WorkflowHookRepository``.

    An issue holds the workflow's row lock (the one every revision takes), so a concurrent
    change of its trigger is decided either before the token is issued or after it.
    """

    async def issue(
        self,
        tenant_id: str,
        workflow_id: str,
        *,
        token_hash: bytes,
        token_prefix: str,
        actor: str,
    ) -> tuple[HookStatus, bool] | None:
        async with self._pool.acquire() as connection, connection.transaction():
            workflow = await connection.fetchrow(QUERIES.lock_workflow, tenant_id, workflow_id)
            if workflow is None:
                return None
            if workflow["trigger"] != HOOK_TRIGGER:
                raise not_a_hook_workflow(workflow["trigger"])
            previous = await connection.fetchrow(_HOOKS.get_hook, tenant_id, workflow_id)
            row = await connection.fetchrow(
                _HOOKS.upsert_hook, tenant_id, workflow_id, token_hash, token_prefix, actor
            )
            if row is None:
                raise RuntimeError("INSERT ... RETURNING gave no row")
            status = _status(row)
            before = _status(previous).audited() if previous is not None else None
            await write_audit(
                connection,
                tenant_id,
                actor,
                AuditChange(
                    "rotate" if previous is not None else "create",
                    "workflow_hook",
                    workflow_id,
                    before,
                    status.audited(),
                ),
            )
        return status, previous is not None

    async def status(self, tenant_id: str, workflow_id: str) -> HookStatus | None:
        row = await self._pool.fetchrow(_HOOKS.get_hook, tenant_id, workflow_id)
        return _status(row) if row is not None else None
