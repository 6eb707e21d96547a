"""The tenant's settings, email templates and inbound secrets in PostgreSQL, each change audited
in its transaction."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg

from services.config_api.adapters.postgres.audit import write_audit
from services.config_api.adapters.postgres.pool import QUERIES, PoolHolder
from services.config_api.domain import (
    EXAMPLE_TEMPLATES,
    AuditChange,
    Cursor,
    EmailTemplate,
    EmailTemplateInput,
    NameTaken,
    TenantPatch,
    new_template_id,
)
from shared import tenancy
from shared.postgres import Pool
from shared.tenancy import InboundSecretStatus, InboundSource, Tenant


def _tenant_state(tenant: Tenant) -> dict[str, object]:
    return {"name": tenant.name, "timezone": tenant.timezone}


class PostgresTenants(PoolHolder):
    """Implements ``handlers.TenantRepository`` over ``shared.tenancy``'s table."""

    async def get(self, tenant_id: str) -> Tenant | None:
        return await tenancy.get_tenant(self._pool, tenant_id)

    async def update(self, tenant_id: str, patch: TenantPatch, *, actor: str) -> Tenant | None:
        async with self._pool.acquire() as connection, connection.transaction():
            before = await tenancy.get_tenant(connection, tenant_id)
            if before is None:
                return None
            after = await tenancy.update_tenant(
                connection, tenant_id, name=patch.name, timezone=patch.timezone
            )
            if after is None:
                return None
            if _tenant_state(after) != _tenant_state(before):
                await write_audit(
                    connection,
                    tenant_id,
                    actor,
                    AuditChange(
                        "update", "tenant", tenant_id, _tenant_state(before), _tenant_state(after)
                    ),
                )
        return after


def _template(row: asyncpg.Record) -> EmailTemplate:
    return EmailTemplate(
        id=row["id"],
        tenant_id=row["tenant_id"],
        content=EmailTemplateInput(
            name=row["name"], subject=row["subject"], body=row["body"], htmlBody=row["html_body"]
        ),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
    )


def _name_taken(name: str) -> NameTaken:
    return NameTaken(
        f"an email template named {name!r} already exists",
        [{"path": "$.name", "message": "already used by another template of this tenant"}],
    )


class PostgresEmailTemplates(PoolHolder):
    """Implements ``handlers.EmailTemplateRepository``."""

    async def create(
        self, *, tenant_id: str, template_id: str, content: EmailTemplateInput, actor: str
    ) -> EmailTemplate:
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                row = await connection.fetchrow(
                    QUERIES.insert_template,
                    template_id,
                    tenant_id,
                    content.name,
                    content.subject,
                    content.body,
                    content.html_body,
                    actor,
                )
                if row is None:
                    raise RuntimeError("INSERT ... RETURNING gave no row")
                await write_audit(
                    connection,
                    tenant_id,
                    actor,
                    AuditChange(
                        "create", "email_template", template_id, None, content.model_dump()
                    ),
                )
        except asyncpg.UniqueViolationError:
            raise _name_taken(content.name) from None
        return _template(row)

    async def get(self, tenant_id: str, template_id: str) -> EmailTemplate | None:
        row = await self._pool.fetchrow(QUERIES.get_template, tenant_id, template_id)
        return _template(row) if row is not None else None

    async def revise(
        self,
        tenant_id: str,
        template_id: str,
        decide: Callable[[EmailTemplate], EmailTemplateInput],
        *,
        actor: str,
    ) -> EmailTemplate | None:
        content: EmailTemplateInput | None = None
        try:
            async with self._pool.acquire() as connection, connection.transaction():
                row = await connection.fetchrow(QUERIES.lock_template, tenant_id, template_id)
                if row is None:
                    return None
                current = _template(row)
                content = decide(current)
                if content == current.content:
                    return current
                updated = await connection.fetchrow(
                    QUERIES.update_template,
                    tenant_id,
                    template_id,
                    content.name,
                    content.subject,
                    content.body,
                    content.html_body,
                )
                if updated is None:
                    raise RuntimeError("the locked template row is gone")
                await write_audit(
                    connection,
                    tenant_id,
                    actor,
                    AuditChange(
                        "update",
                        "email_template",
                        template_id,
                        current.content.model_dump(),
                        content.model_dump(),
                    ),
                )
        except asyncpg.UniqueViolationError:
            raise _name_taken(content.name if content else "") from None
        return _template(updated)

    async def delete(self, tenant_id: str, template_id: str, *, actor: str) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(QUERIES.delete_template, tenant_id, template_id)
            if row is None:
                return False
            before = _template(row).content.model_dump()
            await write_audit(
                connection,
                tenant_id,
                actor,
                AuditChange("delete", "email_template", template_id, before, None),
            )
        return True

    async def install_examples(self, tenant_id: str, *, actor: str) -> list[EmailTemplate]:
        """Add the seed's example templates the tenant has no template of the same name for."""
        installed: list[EmailTemplate] = []
        async with self._pool.acquire() as connection, connection.transaction():
            for example in EXAMPLE_TEMPLATES:
                row = await connection.fetchrow(
                    QUERIES.insert_template_unless_named,
                    new_template_id(),
                    tenant_id,
                    example.name,
                    example.subject,
                    example.body,
                    example.html_body,
                    actor,
                )
                if row is None:
                    continue
                template = _template(row)
                await write_audit(
                    connection,
                    tenant_id,
                    actor,
                    AuditChange(
                        "create", "email_template", template.id, None, example.model_dump()
                    ),
                )
                installed.append(template)
        return installed

    # Last: a method named `list` shadows the builtin in the annotations after it.
    async def list(
        self, tenant_id: str, *, after: Cursor | None, limit: int
    ) -> list[EmailTemplate]:
        rows = await self._pool.fetch(
            QUERIES.list_templates,
            tenant_id,
            after.created_at if after else None,
            after.id if after else None,
            limit,
        )
        return [_template(row) for row in rows]


async def install_example_templates(
    pool: Pool, tenant_id: str, *, actor: str = "system"
) -> list[EmailTemplate]:
    """Install seed 000's template names (high-value-deal, welcome, ...) for a tenant.

    Idempotent: a name the tenant already uses is left alone. Returns the templates added.
    """
    return await PostgresEmailTemplates(pool).install_examples(tenant_id, actor=actor)


def _secret_state(source: InboundSource, is_set: bool) -> dict[str, object]:
    """How the audit log shows a secret: whether it is set. Never the value."""
    return {"source": source, "set": is_set}


class PostgresInboundSecrets(PoolHolder):
    """Implements ``handlers.InboundSecretRepository`` over ``shared.tenancy``'s table.

    Secrets are stored as given (ingest computes signatures with them), kept out of every
    response and of the audit log.
    """

    async def statuses(self, tenant_id: str) -> list[InboundSecretStatus]:
        return await tenancy.inbound_secret_statuses(self._pool, tenant_id)

    async def set(
        self, tenant_id: str, source: InboundSource, secret: str, *, actor: str
    ) -> InboundSecretStatus:
        async with self._pool.acquire() as connection, connection.transaction():
            status = await tenancy.set_inbound_secret(connection, tenant_id, source, secret)
            replaced = status.updated_at != status.created_at
            await write_audit(
                connection,
                tenant_id,
                actor,
                AuditChange(
                    "update" if replaced else "create",
                    "inbound_secret",
                    source,
                    _secret_state(source, replaced),
                    _secret_state(source, True),
                ),
            )
        return status

    async def delete(self, tenant_id: str, source: InboundSource, *, actor: str) -> bool:
        async with self._pool.acquire() as connection, connection.transaction():
            if not await tenancy.delete_inbound_secret(connection, tenant_id, source):
                return False
            await write_audit(
                connection,
                tenant_id,
                actor,
                AuditChange("delete", "inbound_secret", source, _secret_state(source, True), None),
            )
        return True
