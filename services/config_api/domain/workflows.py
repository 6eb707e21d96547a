"""Workflows as the API shows them, their versions, and how an edit turns into a new version.

``WorkflowDefinition`` is treated as opaque: it is validated with ``parse_definition`` and stored
as its JSON dump, so that a richer definition model needs no change here.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from services.config_api.domain.inputs import (
    InvalidInput,
    Precondition,
    parse_body_version,
    parse_definition,
)
from shared.contracts import WorkflowChange, WorkflowDefinition

CHANGELOG_TOPIC = "workflows.changelog"
"""Logical name stored in the outbox; the relay adds ``TOPIC_PREFIX``."""

READ_ONLY_FIELDS = frozenset({"id", "tenantId", "createdAt", "updatedAt", "createdBy", "hook"})
"""Server fields a GET returns; an edit body may carry them back and they are ignored."""

COPY_SUFFIX = " (copy)"


def new_workflow_id() -> str:
    return f"wf_{uuid.uuid4().hex}"


def stored_definition(definition: WorkflowDefinition) -> dict[str, Any]:
    """The JSON a definition is stored and versioned as (``active`` is derived, not stored)."""
    return definition.model_dump(mode="json", by_alias=True, exclude={"active"})


def etag(version: int) -> str:
    return f'"{version}"'


@dataclass(frozen=True, slots=True)
class WorkflowRecord:
    """A stored workflow at its current version."""

    id: str
    tenant_id: str
    version: int
    definition: WorkflowDefinition
    created_at: datetime
    updated_at: datetime
    created_by: str

    @property
    def etag(self) -> str:
        return etag(self.version)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenantId": self.tenant_id,
            "version": self.version,
            **self.definition.model_dump(mode="json", by_alias=True, exclude_none=True),
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "createdBy": self.created_by,
        }

    def change(self) -> WorkflowChange:
        """The changelog record announcing this version."""
        return WorkflowChange(
            tenant_id=self.tenant_id,
            workflow_id=self.id,
            version=self.version,
            workflow=self.definition,
            changed_at=self.updated_at,
        )


@dataclass(frozen=True, slots=True)
class VersionRecord:
    """One immutable version of a workflow, as stored when it was written.

    ``definition`` is the stored JSON, not re-validated: an old version stays readable even if
    the definition model has since become stricter. It is None for the deletion version.
    """

    workflow_id: str
    version: int
    definition: dict[str, Any] | None
    created_at: datetime
    created_by: str
    change: str | None
    """created | updated | restored | deleted; None for versions written before it was kept."""
    restored_from: int | None

    def to_api(self) -> dict[str, Any]:
        return {
            "workflowId": self.workflow_id,
            "version": self.version,
            "change": self.change,
            "restoredFrom": self.restored_from,
            "deleted": self.definition is None,
            "definition": self.definition,
            "createdAt": self.created_at.isoformat(),
            "createdBy": self.created_by,
        }


@dataclass(frozen=True, slots=True)
class Revision:
    """The next version of a workflow, decided from its current one (under its row lock)."""

    definition: WorkflowDefinition
    change: Literal["updated", "restored"]
    restored_from: int | None = None

    @property
    def action(self) -> str:
        """The audit action: ``update`` or ``restore``."""
        return "restore" if self.change == "restored" else "update"


@dataclass(frozen=True, slots=True)
class WorkflowPatch:
    """A partial update: top-level fields that replace the current ones, and a precondition."""

    fields: dict[str, Any]
    precondition: Precondition | None


def parse_patch(body: object) -> WorkflowPatch:
    """Read a ``PUT /api/workflows/{id}`` body.

    ``version`` (optional) is the version the caller edited; the server fields of a GET
    (``READ_ONLY_FIELDS``) are ignored so that a fetched workflow can be sent back as it is.
    """
    if not isinstance(body, dict):
        raise InvalidInput(
            "the body must be a JSON object", [{"path": "$", "message": "expected an object"}]
        )
    precondition = parse_body_version(body["version"]) if "version" in body else None
    fields = {
        key: value
        for key, value in body.items()
        if key not in READ_ONLY_FIELDS and key != "version"
    }
    return WorkflowPatch(fields, precondition)


def merge_patch(current: Mapping[str, Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The current stored definition with the patch's top-level keys replacing its own.

    ``active`` and ``status`` say the same thing: a patch that sets one of them drops the
    current value of the other, so ``{"active": false}`` alone switches a workflow off.
    """
    merged = dict(current)
    if "active" in fields and "status" not in fields:
        merged.pop("status", None)
    if "status" in fields and "active" not in fields:
        merged.pop("active", None)
    merged.update(fields)
    return merged


@functools.cache
def _name_max_length() -> int | None:
    name = WorkflowDefinition.model_json_schema().get("properties", {}).get("name", {})
    limit = name.get("maxLength") if isinstance(name, dict) else None
    return limit if isinstance(limit, int) else None


def copy_name(name: str) -> str:
    """``"<name> (copy)"``, shortening the name if the result would be too long."""
    limit = _name_max_length()
    if limit is not None and len(name) + len(COPY_SUFFIX) > limit:
        name = name[: max(limit - len(COPY_SUFFIX), 0)].rstrip()
    return name + COPY_SUFFIX


def duplicate_definition(source: WorkflowDefinition) -> WorkflowDefinition:
    """The definition of a copy: same trigger, conditions and actions, renamed, as a draft."""
    data = stored_definition(source)
    data["name"] = copy_name(str(data.get("name", "")))
    data["status"] = "draft"
    return parse_definition(data)
