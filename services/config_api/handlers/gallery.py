"""The templates gallery: list and read templates, use one (a draft copy), publish one's own."""

from __future__ import annotations

from typing import Protocol

from services.config_api.domain import (
    GalleryCursor,
    GalleryTemplate,
    InvalidInput,
    NewTemplate,
    Page,
    SavePolicy,
    WorkflowRecord,
    check_definition,
    draft_from,
    new_workflow_id,
    parse_category,
    parse_publish,
    parse_scope,
    parse_use,
    template_of,
)
from services.config_api.handlers.paging import page_of
from services.config_api.handlers.workflows import WorkflowRepository
from shared.contracts import WorkflowDefinition
from shared.tenancy import Principal


class TemplateGallery(Protocol):
    """The system templates and each tenant's own; every method is scoped by ``tenant_id`` and
    sees only the system templates and that tenant's."""

    async def get(self, tenant_id: str, slug: str) -> GalleryTemplate | None:
        """The tenant's template of ``slug``, else the system one, else None."""

    async def use(
        self,
        tenant_id: str,
        template: GalleryTemplate,
        definition: WorkflowDefinition,
        *,
        workflow_id: str,
        actor: str,
    ) -> WorkflowRecord:
        """Save ``definition`` as a new workflow (version 1, audit row, changelog record, as
        any new workflow) and count the use, in one transaction."""

    async def publish(self, tenant_id: str, new: NewTemplate, *, actor: str) -> GalleryTemplate:
        """Store a tenant template (audited); raises ``SlugTaken`` if the slug is taken."""

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
        """Featured first, then by name; those after ``after`` when given."""


async def list_gallery(
    gallery: TemplateGallery,
    principal: Principal,
    *,
    category: str | None,
    scope: str | None,
    cursor: str | None,
    limit: int,
) -> Page:
    """The system templates and the tenant's own, featured first, each with its usage count."""
    after = GalleryCursor.decode(cursor) if cursor else None
    records = await gallery.list(
        principal.tenant_id,
        category=parse_category(category),
        scope=parse_scope(scope),
        after=after,
        limit=limit + 1,
    )
    return page_of(records, limit, lambda last: last.cursor.encode())


async def get_gallery_template(
    gallery: TemplateGallery, principal: Principal, slug: str
) -> GalleryTemplate | None:
    return await gallery.get(principal.tenant_id, slug)


async def use_template(
    gallery: TemplateGallery,
    principal: Principal,
    slug: str,
    body: object,
    policy: SavePolicy,
) -> WorkflowRecord | None:
    """A new draft workflow copying the template's, checked as any new workflow is; None if
    the tenant's gallery has no such template."""
    request = parse_use(body)
    template = await gallery.get(principal.tenant_id, slug)
    if template is None:
        return None
    definition = draft_from(template, request.name)
    check_definition(definition, policy)
    return await gallery.use(
        principal.tenant_id,
        template,
        definition,
        workflow_id=new_workflow_id(),
        actor=principal.actor,
    )


async def publish_template(
    gallery: TemplateGallery,
    workflows: WorkflowRepository,
    principal: Principal,
    body: object,
) -> GalleryTemplate:
    """A tenant template from one of the tenant's workflows at its current version; a workflow
    the tenant does not have is a 422 naming ``$.workflowId``."""
    request = parse_publish(body)
    workflow = await workflows.get(principal.tenant_id, request.workflow_id)
    if workflow is None:
        raise InvalidInput(
            "no such workflow",
            [{"path": "$.workflowId", "message": "no workflow of this id in this tenant"}],
        )
    return await gallery.publish(
        principal.tenant_id, template_of(request, workflow.definition), actor=principal.actor
    )
