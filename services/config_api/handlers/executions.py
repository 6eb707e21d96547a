"""Execution history: a workflow's executions, and one execution with its step logs."""

from __future__ import annotations

from typing import Protocol

from services.config_api.domain import (
    EXECUTION_STATUSES,
    Cursor,
    ExecutionRecord,
    InvalidInput,
    Page,
)
from services.config_api.handlers.paging import page_of
from services.config_api.handlers.workflows import WorkflowRepository
from shared.tenancy import Principal


class ExecutionReader(Protocol):
    """Reads the executor's tables; every method is scoped by ``tenant_id``."""

    async def list_for_workflow(
        self,
        tenant_id: str,
        workflow_id: str,
        *,
        status: str | None,
        before: Cursor | None,
        limit: int,
    ) -> list[ExecutionRecord]:
        """Newest first (without steps), those before ``before`` when given."""

    async def get(self, tenant_id: str, execution_id: str) -> ExecutionRecord | None:
        """The execution with its steps in step order."""


async def list_executions(
    executions: ExecutionReader,
    workflows: WorkflowRepository,
    principal: Principal,
    workflow_id: str,
    *,
    status: str | None,
    cursor: str | None,
    limit: int,
) -> Page | None:
    """Newest first, optionally of one status. None if the tenant never had the workflow
    (a deleted workflow's executions stay listed)."""
    if status is not None and status not in EXECUTION_STATUSES:
        raise InvalidInput(
            "invalid filter",
            [{"path": "query.status", "message": f"one of {list(EXECUTION_STATUSES)}"}],
        )
    before = Cursor.decode(cursor) if cursor else None
    if not await workflows.known(principal.tenant_id, workflow_id):
        return None
    records = await executions.list_for_workflow(
        principal.tenant_id, workflow_id, status=status, before=before, limit=limit + 1
    )
    return page_of(records, limit, lambda last: Cursor(last.created_at, last.id).encode())


async def get_execution(
    executions: ExecutionReader, principal: Principal, execution_id: str
) -> ExecutionRecord | None:
    return await executions.get(principal.tenant_id, execution_id)
