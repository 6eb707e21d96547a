"""Execution requests on ``executions.requested`` and their dead letters (SPEC §2, §5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.envelope import CloudEvent
from shared.contracts.workflows import WorkflowDefinition

_EXECUTION_NAMESPACE = uuid.UUID("6f1f7d0e-7c4b-4d55-9a57-0b3c8f1d2e41")


def execution_id_for(event: CloudEvent, workflow_id: str, workflow_version: int) -> str:
    """The one execution an event yields for a workflow version, however often it is delivered."""
    name = (
        f"{event.tenantid}\x1f{event.source}\x1f{event.id}\x1f{workflow_id}\x1f{workflow_version}"
    )
    return f"exe_{uuid.uuid5(_EXECUTION_NAMESPACE, name).hex}"


class ExecutionRequest(BaseModel):
    """Run ``workflow`` (as it was at ``workflow_version``) for ``event``. Keyed by workflow id.

    The definition travels with the request so that the executor runs exactly the version that
    matched, even if the workflow changed since.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    execution_id: str
    tenant_id: str
    workflow_id: str
    workflow_version: int = Field(ge=1)
    workflow: WorkflowDefinition
    event: CloudEvent
    requested_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))


class ExecutionDeadLetter(BaseModel):
    """A request the executor gave up on, with the final error, on ``executions.deadletter``."""

    model_config = ConfigDict(frozen=True)

    request: ExecutionRequest | None
    received: str | None = Field(default=None, description="raw input when it did not decode")
    error: dict[str, Any]
    failed_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
