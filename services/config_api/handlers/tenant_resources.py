"""A tenant's settings, its named email templates and its write-only inbound secrets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from services.config_api.domain import (
    Cursor,
    EmailTemplate,
    EmailTemplateInput,
    Page,
    TenantPatch,
    merge_template,
    new_template_id,
    parse_secret,
    parse_template,
    parse_tenant_patch,
)
from services.config_api.handlers.paging import page_of
from shared.tenancy import INBOUND_SOURCES, InboundSecretStatus, InboundSource, Principal, Tenant


class TenantRepository(Protocol):
    """The caller's own tenant; changes are audited in their transaction."""

    async def get(self, tenant_id: str) -> Tenant | None: ...

    async def update(self, tenant_id: str, patch: TenantPatch, *, actor: str) -> Tenant | None:
        """Apply ``patch`` (None fields unchanged); None if the tenant is gone."""


def tenant_view(tenant: Tenant) -> dict[str, Any]:
    return {
        "id": tenant.id,
        "name": tenant.name,
        "timezone": tenant.timezone,
        "createdAt": tenant.created_at.isoformat(),
    }


async def get_tenant(tenants: TenantRepository, principal: Principal) -> dict[str, Any] | None:
    tenant = await tenants.get(principal.tenant_id)
    return tenant_view(tenant) if tenant is not None else None


async def update_tenant(
    tenants: TenantRepository, principal: Principal, body: object
) -> dict[str, Any] | None:
    """Partial update of the tenant's ``name`` and ``timezone`` (an IANA zone)."""
    patch = parse_tenant_patch(body)
    tenant = await tenants.update(principal.tenant_id, patch, actor=principal.actor)
    return tenant_view(tenant) if tenant is not None else None


class EmailTemplateRepository(Protocol):
    """Templates of every tenant; every method is scoped by ``tenant_id``, every change audited
    in its own transaction. A name already taken in the tenant raises ``NameTaken``."""

    async def create(
        self, *, tenant_id: str, template_id: str, content: EmailTemplateInput, actor: str
    ) -> EmailTemplate: ...

    async def get(self, tenant_id: str, template_id: str) -> EmailTemplate | None: ...

    async def list(
        self, tenant_id: str, *, after: Cursor | None, limit: int
    ) -> list[EmailTemplate]: ...

    async def revise(
        self,
        tenant_id: str,
        template_id: str,
        decide: Callable[[EmailTemplate], EmailTemplateInput],
        *,
        actor: str,
    ) -> EmailTemplate | None:
        """Lock the template, store what ``decide`` makes of it; None if there is none."""

    async def delete(self, tenant_id: str, template_id: str, *, actor: str) -> bool: ...


class InboundSecretRepository(Protocol):
    """Per-source secrets; the value goes in and never comes out (nor into the audit log)."""

    async def statuses(self, tenant_id: str) -> list[InboundSecretStatus]: ...

    async def set(
        self, tenant_id: str, source: InboundSource, secret: str, *, actor: str
    ) -> InboundSecretStatus: ...

    async def delete(self, tenant_id: str, source: InboundSource, *, actor: str) -> bool: ...


async def create_template(
    templates: EmailTemplateRepository, principal: Principal, body: object
) -> EmailTemplate:
    return await templates.create(
        tenant_id=principal.tenant_id,
        template_id=new_template_id(),
        content=parse_template(body),
        actor=principal.actor,
    )


async def get_template(
    templates: EmailTemplateRepository, principal: Principal, template_id: str
) -> EmailTemplate | None:
    return await templates.get(principal.tenant_id, template_id)


async def list_templates(
    templates: EmailTemplateRepository, principal: Principal, *, cursor: str | None, limit: int
) -> Page:
    """Oldest first."""
    after = Cursor.decode(cursor) if cursor else None
    records = await templates.list(principal.tenant_id, after=after, limit=limit + 1)
    return page_of(records, limit, lambda last: Cursor(last.created_at, last.id).encode())


async def update_template(
    templates: EmailTemplateRepository, principal: Principal, template_id: str, body: object
) -> EmailTemplate | None:
    """Partial update: the body's top-level fields replace the template's."""
    return await templates.revise(
        principal.tenant_id,
        template_id,
        lambda current: merge_template(current.content, body),
        actor=principal.actor,
    )


async def delete_template(
    templates: EmailTemplateRepository, principal: Principal, template_id: str
) -> bool:
    return await templates.delete(principal.tenant_id, template_id, actor=principal.actor)


def inbound_source(name: str) -> InboundSource | None:
    """The source a path names, or None if ingest has no such source."""
    for source in INBOUND_SOURCES:
        if source == name:
            return source
    return None


def secret_view(source: InboundSource, status: InboundSecretStatus | None) -> dict[str, Any]:
    """What the API shows of a secret: whether it is set, and since when. Never the value."""
    return {
        "source": source,
        "set": status is not None,
        "createdAt": status.created_at.isoformat() if status else None,
        "updatedAt": status.updated_at.isoformat() if status else None,
    }


async def list_inbound_secrets(
    secrets: InboundSecretRepository, principal: Principal
) -> list[dict[str, Any]]:
    """Every source, set or not."""
    statuses = {status.source: status for status in await secrets.statuses(principal.tenant_id)}
    return [secret_view(source, statuses.get(source)) for source in INBOUND_SOURCES]


async def get_inbound_secret(
    secrets: InboundSecretRepository, principal: Principal, source: InboundSource
) -> dict[str, Any]:
    statuses = await secrets.statuses(principal.tenant_id)
    return secret_view(source, next((s for s in statuses if s.source == source), None))


async def set_inbound_secret(
    secrets: InboundSecretRepository, principal: Principal, source: InboundSource, body: object
) -> dict[str, Any]:
    secret = parse_secret(body).secret
    status = await secrets.set(principal.tenant_id, source, secret, actor=principal.actor)
    return secret_view(source, status)


async def delete_inbound_secret(
    secrets: InboundSecretRepository, principal: Principal, source: InboundSource
) -> bool:
    return await secrets.delete(principal.tenant_id, source, actor=principal.actor)
