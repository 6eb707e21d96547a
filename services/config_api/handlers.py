"""The config API's handlers: one per request, over a repository protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from services.config_api.domain import (
    Cursor,
    InvalidInput,
    WorkflowRecord,
    new_workflow_id,
    parse_definition,
)
from shared.contracts import WorkflowDefinition
from shared.tenancy import Principal

WORKFLOW_STATUSES = frozenset({"draft", "active", "paused", "archived"})


class WorkflowRepository(Protocol):
    async def create(
        self, *, workflow_id: str, tenant_id: str, definition: WorkflowDefinition, actor: str
    ) -> WorkflowRecord:
        """Store version 1 and its changelog record in one transaction."""

    async def get(self, tenant_id: str, workflow_id: str) -> WorkflowRecord | None: ...

    async def list(
        self,
        tenant_id: str,
        *,
        status: str | None,
        trigger: str | None,
        after: Cursor | None,
        limit: int,
    ) -> list[WorkflowRecord]: ...


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


async def create_workflow(
    repository: WorkflowRepository, principal: Principal, body: object
) -> WorkflowRecord:
    definition = parse_definition(body)
    return await repository.create(
        workflow_id=new_workflow_id(),
        tenant_id=principal.tenant_id,
        definition=definition,
        actor=principal.actor,
    )


async def get_workflow(
    repository: WorkflowRepository, principal: Principal, workflow_id: str
) -> WorkflowRecord | None:
    return await repository.get(principal.tenant_id, workflow_id)


async def list_workflows(
    repository: WorkflowRepository,
    principal: Principal,
    *,
    status: str | None,
    trigger: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    if status is not None and status not in WORKFLOW_STATUSES:
        raise InvalidInput(
            "invalid filter",
            [{"path": "query.status", "message": f"one of {sorted(WORKFLOW_STATUSES)}"}],
        )
    after = Cursor.decode(cursor) if cursor else None
    records = await repository.list(
        principal.tenant_id, status=status, trigger=trigger, after=after, limit=limit + 1
    )
    more = len(records) > limit
    records = records[:limit]
    next_cursor = (
        Cursor(records[-1].created_at, records[-1].id).encode() if more and records else None
    )
    return Page(items=[record.to_api() for record in records], next_cursor=next_cursor)
