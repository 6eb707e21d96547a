"""The templates gallery (seed 003): workflows to start from, shipped or published by a tenant.

A *system* template ships with the product: one JSON file per template in
``services/config_api/gallery/``, put in the database by a generated migration (never read from
the files at run time). A *tenant* template is one of the tenant's workflows published for its
own team (``POST /api/templates``), visible only to that tenant. Using a template copies its
workflow into the tenant as a draft, through the same save path as any new workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from services.config_api.domain.inputs import (
    Conflict,
    InvalidInput,
    parse_definition,
    validation_details,
)
from services.config_api.domain.pages import _decode, _encode
from services.config_api.domain.workflows import stored_definition
from shared.contracts import WorkflowDefinition
from shared.contracts.envelope import TriggerType

Category = Literal["Sales", "Customer Success", "Operations", "Marketing", "Platform"]
CATEGORIES: Final[tuple[str, ...]] = get_args(Category)
"""The gallery's categories, in the order the gallery shows them."""
Scope = Literal["system", "tenant"]
SCOPES: Final[tuple[str, ...]] = get_args(Scope)

SLUG_PATTERN: Final = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
"""Lower-case words joined by hyphens, 1 to 64 characters: safe in a URL path as it is."""
Slug = Annotated[str, Field(pattern=SLUG_PATTERN, examples=["high-value-deal-alert"])]

SYSTEM_ACTOR: Final = "system"
"""``created_by`` of the templates the product ships."""

_STRICT = ConfigDict(frozen=True, extra="forbid", validate_by_alias=True, serialize_by_alias=True)


class SampleEvent(BaseModel):
    """The event a template is shown with and tested against: its trigger and ``data``."""

    model_config = _STRICT

    type: TriggerType
    subject: str | None = Field(default=None, max_length=256)
    data: dict[str, Any] = Field(default_factory=dict)


def _workflow_of(raw: dict[str, Any], path: str) -> WorkflowDefinition:
    try:
        return WorkflowDefinition.model_validate(raw)
    except ValidationError as error:
        details = validation_details(error)
        raise ValueError(
            "the workflow is invalid: "
            + "; ".join(f"{path}{d['path'].removeprefix('$')}: {d['message']}" for d in details)
        ) from None


class TemplateSource(BaseModel):
    """One shipped template as its source file holds it (``gallery/<slug>.json``).

    ``workflow`` is a workflow definition as a user would write it (no ``status``: using the
    template always makes a draft); it is stored exactly as written, and validated against the
    model here. ``sampleEvent`` is an event of the workflow's trigger that meets its conditions.
    """

    model_config = _STRICT

    slug: Slug
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=2000)
    category: Category
    featured: bool = False
    workflow: dict[str, Any]
    sample_event: SampleEvent = Field(alias="sampleEvent")

    @model_validator(mode="after")
    def _a_workflow_for_its_sample(self) -> TemplateSource:
        if "status" in self.workflow or "active" in self.workflow:
            raise ValueError("a template's workflow has no 'status' or 'active': it is a draft")
        definition = _workflow_of(self.workflow, "$.workflow")
        if definition.trigger != self.sample_event.type:
            raise ValueError(
                f"sampleEvent.type {self.sample_event.type!r} is not the workflow's trigger "
                f"{definition.trigger!r}"
            )
        return self


@dataclass(frozen=True, slots=True)
class GalleryTemplate:
    """A template as stored: system (``tenant_id`` None) or one tenant's own."""

    id: int
    tenant_id: str | None
    slug: str
    name: str
    description: str
    category: str
    featured: bool
    workflow: dict[str, Any]
    sample_event: dict[str, Any] | None
    usage_count: int
    source_workflow_id: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str

    @property
    def scope(self) -> Scope:
        return "system" if self.tenant_id is None else "tenant"

    @property
    def cursor(self) -> GalleryCursor:
        return GalleryCursor(self.featured, self.name, self.id)

    def to_api(self) -> dict[str, Any]:
        return {
            "slug": self.slug,
            "name": self.name,
            "description": self.description,
            "category": self.category,
            "featured": self.featured,
            "scope": self.scope,
            "usageCount": self.usage_count,
            "workflow": self.workflow,
            "sampleEvent": self.sample_event,
            "sourceWorkflowId": self.source_workflow_id,
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "createdBy": self.created_by,
        }

    def audit_state(self) -> dict[str, Any]:
        """How the audit log shows the template (its usage count is not part of it)."""
        shown = self.to_api()
        for key in ("usageCount", "createdAt", "updatedAt", "createdBy"):
            shown.pop(key)
        return shown


@dataclass(frozen=True, slots=True)
class GalleryCursor:
    """A position in the gallery's order: featured first, then by name, then by id."""

    featured: bool
    name: str
    id: int

    def encode(self) -> str:
        return _encode(f"g{int(self.featured)}|{self.id}|{self.name}")

    @classmethod
    def decode(cls, token: str) -> GalleryCursor:
        invalid = InvalidInput(
            "invalid cursor", [{"path": "query.cursor", "message": "not a cursor from this API"}]
        )
        parts = _decode(token).split("|", 2)
        if len(parts) != 3 or parts[0] not in {"g0", "g1"}:
            raise invalid
        _, number, name = parts
        if not (number.isascii() and number.isdigit() and len(number) <= 18):
            raise invalid
        return cls(parts[0] == "g1", name, int(number))


def parse_category(raw: str | None) -> str | None:
    """The ``category`` filter: one of ``CATEGORIES`` (422 naming ``query.category``)."""
    if raw is not None and raw not in CATEGORIES:
        raise InvalidInput(
            "invalid filter", [{"path": "query.category", "message": f"one of {list(CATEGORIES)}"}]
        )
    return raw


def parse_scope(raw: str | None) -> str | None:
    if raw is not None and raw not in SCOPES:
        raise InvalidInput(
            "invalid filter", [{"path": "query.scope", "message": f"one of {list(SCOPES)}"}]
        )
    return raw


class TemplatePublish(BaseModel):
    """``POST /api/templates``: publish one of the tenant's workflows as a tenant template.

    ``name`` and ``description`` default to the workflow's. The workflow's current definition
    is copied (without its status); later edits of the workflow do not change the template.
    """

    model_config = _STRICT

    workflow_id: str = Field(alias="workflowId", min_length=1, max_length=100)
    slug: Slug
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    category: Category
    featured: bool = Field(
        default=False, description="shown among the featured templates, first (this tenant only)"
    )
    sample_event: SampleEvent | None = Field(
        default=None,
        alias="sampleEvent",
        description="an event of the workflow's trigger to show and test the template with",
    )


def parse_publish(body: object) -> TemplatePublish:
    try:
        return TemplatePublish.model_validate(body)
    except ValidationError as error:
        raise InvalidInput("the template is invalid", validation_details(error)) from None


@dataclass(frozen=True, slots=True)
class NewTemplate:
    """A tenant template about to be stored."""

    slug: str
    name: str
    description: str
    category: str
    featured: bool
    workflow: dict[str, Any]
    sample_event: dict[str, Any] | None
    source_workflow_id: str


def template_of(request: TemplatePublish, definition: WorkflowDefinition) -> NewTemplate:
    """The template ``request`` makes of a workflow at its current ``definition``.

    A sample event must be of the workflow's trigger (422 naming ``$.sampleEvent.type``).
    """
    workflow = stored_definition(definition)
    workflow.pop("status", None)
    sample = request.sample_event
    if sample is not None and sample.type != definition.trigger:
        raise InvalidInput(
            "the sample event does not fit the workflow",
            [
                {
                    "path": "$.sampleEvent.type",
                    "message": f"the workflow's trigger is {definition.trigger!r}",
                }
            ],
        )
    return NewTemplate(
        slug=request.slug,
        name=request.name if request.name is not None else definition.name,
        description=(
            request.description if request.description is not None else definition.description
        ),
        category=request.category,
        featured=request.featured,
        workflow=workflow,
        sample_event=sample.model_dump(mode="json", exclude_none=True) if sample else None,
        source_workflow_id=request.workflow_id,
    )


class TemplateUse(BaseModel):
    """``POST /api/templates/{slug}/use``: optionally, the new workflow's name."""

    model_config = _STRICT

    name: str | None = Field(default=None, min_length=1, max_length=200)


def parse_use(body: object) -> TemplateUse:
    try:
        return TemplateUse.model_validate(body if body is not None else {})
    except ValidationError as error:
        raise InvalidInput("the request is invalid", validation_details(error)) from None


def draft_from(template: GalleryTemplate, name: str | None = None) -> WorkflowDefinition:
    """The template's workflow as a new draft (named ``name`` if given).

    Raises ``InvalidInput`` if the stored workflow is not valid under the current model (a
    template published before the model became stricter).
    """
    data = {**template.workflow, "status": "draft"}
    data.pop("active", None)
    if name is not None:
        data["name"] = name
    try:
        return parse_definition(data)
    except InvalidInput as invalid:
        raise InvalidInput(
            f"the template {template.slug!r} is not a valid workflow any more",
            invalid.details,
        ) from None


class SlugTaken(Conflict):
    """A template of this slug is already in the tenant's gallery (a system template's, or one
    of its own)."""

    code = "slug_taken"

    def __init__(self, slug: str) -> None:
        super().__init__(
            f"a template {slug!r} already exists",
            [{"path": "$.slug", "message": "already in this tenant's gallery"}],
        )
