"""Workflow records as the API shows them, changelog records, cursors. Pure: no I/O."""

from __future__ import annotations

import base64
import binascii
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from shared.contracts import WorkflowChange, WorkflowDefinition

CHANGELOG_TOPIC = "workflows.changelog"
"""Logical name stored in the outbox; the relay adds ``TOPIC_PREFIX``."""


class InvalidInput(Exception):
    """A request body that is well-formed JSON but not a valid input; names each field."""

    def __init__(self, message: str, details: list[dict[str, str]]) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def json_path(location: tuple[int | str, ...]) -> str:
    path = "$"
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def parse_definition(body: object) -> WorkflowDefinition:
    """Validate a workflow definition; raises ``InvalidInput`` naming every JSON path at fault."""
    try:
        return WorkflowDefinition.model_validate(body)
    except ValidationError as error:
        details = [
            {"path": json_path(tuple(e["loc"])), "message": e["msg"]} for e in error.errors()
        ]
        raise InvalidInput("the workflow definition is invalid", details) from None


def new_workflow_id() -> str:
    return f"wf_{uuid.uuid4().hex}"


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

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tenantId": self.tenant_id,
            "version": self.version,
            **self.definition.model_dump(mode="json", exclude_none=True),
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
class Cursor:
    """Where the next page of a list starts (opaque to clients)."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
            created_at, workflow_id = raw.split("|", 1)
            return cls(datetime.fromisoformat(created_at), workflow_id)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise InvalidInput(
                "invalid cursor",
                [{"path": "query.cursor", "message": "not a cursor from this API"}],
            ) from None
