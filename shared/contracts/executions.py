"""Execution requests on ``executions.requested``, parked ones on ``executions.deferred``, and
their dead letters (SPEC §2, §5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.contracts.envelope import TENANT_ID_PATTERN, CloudEvent
from shared.contracts.storable import text_problem
from shared.contracts.workflows import WorkflowDefinition

_EXECUTION_NAMESPACE = uuid.UUID("6f1f7d0e-7c4b-4d55-9a57-0b3c8f1d2e41")


def execution_id_for(event: CloudEvent, workflow_id: str, workflow_version: int) -> str:
    """The one execution an event yields for a workflow version, however often it is delivered."""
    name = (
        f"{event.tenantid}\x1f{event.source}\x1f{event.id}\x1f{workflow_id}\x1f{workflow_version}"
    )
    return f"exe_{uuid.uuid5(_EXECUTION_NAMESPACE, name).hex}"


DeferralReason = Literal["delay", "queue", "retry"]
"""Why an execution was parked: a ``delay`` step, a throttled run waiting for room in its rate
limit (``queue``), or a transient failure retried later (``retry``)."""


class Resumption(BaseModel):
    """Where and why a parked execution resumes; set on a request a durable timer hands back."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timer_id: str = Field(
        min_length=1,
        max_length=256,
        description="deterministic: parking the same step again names the same timer",
    )
    reason: DeferralReason
    step: int = Field(ge=0, description="the index of the step the execution resumes at")
    due_at: AwareDatetime


class ExecutionRequest(BaseModel):
    """Run ``workflow`` (as it was at ``workflow_version``) for ``event``. Keyed by workflow id.

    The definition travels with the request so that the executor runs exactly the version that
    matched, even if the workflow changed since.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    execution_id: str = Field(min_length=1, max_length=256)
    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    workflow_id: str = Field(min_length=1, max_length=256)
    workflow_version: int = Field(ge=1)
    workflow: WorkflowDefinition
    event: CloudEvent
    requested_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    resumption: Resumption | None = Field(
        default=None, description="set when a durable timer hands a parked execution back"
    )

    @field_validator("execution_id", "workflow_id")
    @classmethod
    def _storable(cls, value: str) -> str:
        problem = text_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value


class DeferredExecution(BaseModel):
    """A request parked until ``request.resumption.due_at``, on ``executions.deferred`` (keyed by
    workflow id).

    The executor publishes it; the scheduler stores it as a timer (one per ``timer_id``, so a
    redelivery is harmless) and, when due, publishes ``request`` unchanged to
    ``executions.requested``, keyed by workflow id, where the executor resumes it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    request: ExecutionRequest

    @model_validator(mode="after")
    def _says_when_to_resume(self) -> DeferredExecution:
        if self.request.resumption is None:
            raise ValueError("a deferred request needs its 'resumption'")
        return self

    @property
    def resumption(self) -> Resumption:
        resumption = self.request.resumption
        if resumption is None:  # excluded by validation
            raise ValueError("a deferred request needs its 'resumption'")
        return resumption


class ExecutionDeadLetter(BaseModel):
    """A request the executor gave up on, with the final error, on ``executions.deadletter``."""

    model_config = ConfigDict(frozen=True)

    request: ExecutionRequest | None
    received: str | None = Field(default=None, description="raw input when it did not decode")
    error: dict[str, Any]
    failed_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
