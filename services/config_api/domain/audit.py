"""Audit records: who changed what, from what, to what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

RESOURCE_TYPES = (
    "workflow",
    "email_template",
    "inbound_secret",
    "api_key",
    "tenant",
    "workflow_template",
    "workflow_hook",
)
"""What the audit log records changes to (``resource_type``)."""


@dataclass(frozen=True, slots=True)
class AuditChange:
    """A change about to be written, in the same transaction as the change itself.

    ``before``/``after`` are the resource as it was and became (None: it did not exist). They
    never hold a secret or an API key.
    """

    action: str
    resource_type: str
    resource_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the audit log."""

    id: int
    actor: str
    action: str
    resource_type: str
    resource_id: str
    before: Any
    after: Any
    at: datetime

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "actor": self.actor,
            "action": self.action,
            "resourceType": self.resource_type,
            "resourceId": self.resource_id,
            "before": self.before,
            "after": self.after,
            "at": self.at.isoformat(),
        }


def workflow_state(version: int, definition: dict[str, Any] | None) -> dict[str, Any]:
    """How the audit log shows a workflow at a version."""
    return {"version": version, "definition": definition}
