"""The templates gallery in PostgreSQL (``sql/gallery.sql``): system templates and each
tenant's own; a use is counted in the transaction that creates the workflow copy."""

from __future__ import annotations

import asyncpg

from services.config_api.adapters.postgres.audit import write_audit
from services.config_api.adapters.postgres.pool import PoolHolder
from services.config_api.adapters.postgres.workflows import PostgresWorkflowRepository
from services.config_api.domain import (
    AuditChange,
    GalleryCursor,
    GalleryTemplate,
    NewTemplate,
    SlugTaken,
    WorkflowRecord,
)
from shared.contracts import WorkflowDefinition
from shared.postgres import Pool, Queries
from shared.tenancy import Queryable

GALLERY_QUERIES = Queries.load("services.config_api", "gallery.sql")


def _template(row: asyncpg.Record) -> GalleryTemplate:
    return GalleryTemplate(
        id=row["id"],
        tenant_id=row["tenant_id"],
        slug=row["slug"],
        name=row["name"],
        description=row["description"],
        category=row["category"],
        featured=row["featured"],
        workflow=row["workflow"],
        sample_event=row["sample_event"],
        usage_count=row["usage_count"],
        source_workflow_id=row["source_workflow_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        created_by=row["created_by"],
    )


class PostgresTemplateGallery(PoolHolder):
    """Implements ``handlers.TemplateGallery``; copies are saved by the workflow repository."""

    def __init__(self, workflows: PostgresWorkflowRepository, pool: Pool | None = None) -> None:
        super().__init__(pool)
        self._workflows = workflows

    async def get(self, tenant_id: str, slug: str) -> GalleryTemplate | None:
        row = await self._pool.fetchrow(GALLERY_QUERIES.get_gallery_template, tenant_id, slug)
        return _template(row) if row is not None else None

    async def use(
        self,
        tenant_id: str,
        template: GalleryTemplate,
        definition: WorkflowDefinition,
        *,
        workflow_id: str,
        actor: str,
    ) -> WorkflowRecord:
        async def count(db: Queryable) -> None:
            await db.execute(GALLERY_QUERIES.count_template_use, tenant_id, template.id)

        return await self._workflows.create(
            workflow_id=workflow_id,
            tenant_id=tenant_id,
            definition=definition,
            actor=actor,
            note={"fromTemplate": {"slug": template.slug, "scope": template.scope}},
            within=count,
        )

    async def publish(self, tenant_id: str, new: NewTemplate, *, actor: str) -> GalleryTemplate:
        async with self._pool.acquire() as connection, connection.transaction():
            row = await connection.fetchrow(
                GALLERY_QUERIES.insert_tenant_template,
                tenant_id,
                new.slug,
                new.name,
                new.description,
                new.category,
                new.featured,
                new.workflow,
                new.sample_event,
                new.source_workflow_id,
                actor,
            )
            if row is None:
                raise SlugTaken(new.slug)
            template = _template(row)
            await write_audit(
                connection,
                tenant_id,
                actor,
                AuditChange(
                    "publish", "workflow_template", template.slug, None, template.audit_state()
                ),
            )
        return template

    # Last: a method named `list` shadows the builtin in the annotations after it.
    async def list(
        self,
        tenant_id: str,
        *,
        category: str | None,
        scope: str | None,
        after: GalleryCursor | None,
        limit: int,
    ) -> list[GalleryTemplate]:
        rows = await self._pool.fetch(
            GALLERY_QUERIES.list_gallery,
            tenant_id,
            category,
            scope,
            after.featured if after else None,
            after.name if after else None,
            after.id if after else None,
            limit,
        )
        return [_template(row) for row in rows]
