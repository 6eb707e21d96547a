"""The tenant's audit log, newest first."""

from __future__ import annotations

from typing import Protocol

from services.config_api.domain import AuditRecord, Page, PositionCursor
from services.config_api.handlers.paging import page_of
from shared.tenancy import Principal

MAX_AUDIT_ID = 2**63 - 1


class AuditReader(Protocol):
    async def list(
        self,
        tenant_id: str,
        *,
        resource_type: str | None,
        resource_id: str | None,
        before: int | None,
        limit: int,
    ) -> list[AuditRecord]:
        """Newest first, those older than the row ``before`` when given."""


async def list_audit(
    audit: AuditReader,
    principal: Principal,
    *,
    resource_type: str | None,
    resource_id: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    before = PositionCursor.decode(cursor, maximum=MAX_AUDIT_ID).position if cursor else None
    records = await audit.list(
        principal.tenant_id,
        resource_type=resource_type,
        resource_id=resource_id,
        before=before,
        limit=limit + 1,
    )
    return page_of(records, limit, lambda last: PositionCursor(last.id).encode())
