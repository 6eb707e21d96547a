"""The workflow definition as it travels, and its changelog record on ``workflows.changelog``.

The definition itself — trigger, conditions, actions, settings — is ``shared.workflows.model``;
it is re-exported here because it is part of two payloads (``WorkflowChange`` and
``ExecutionRequest``), and so that ``from shared.contracts import WorkflowDefinition`` keeps
working.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.envelope import TENANT_ID_PATTERN
from shared.contracts.storable import refuse_unstorable_text
from shared.workflows.actions import Action, WebhookAction
from shared.workflows.limits import MAX_ACTIONS, MAX_HEADERS
from shared.workflows.model import (
    Enrollment,
    ErrorHandling,
    Schedule,
    WorkflowDefinition,
    WorkflowSettings,
    WorkflowStatus,
)

__all__ = [
    "MAX_ACTIONS",
    "MAX_HEADERS",
    "Action",
    "Enrollment",
    "ErrorHandling",
    "Schedule",
    "WebhookAction",
    "WorkflowChange",
    "WorkflowDefinition",
    "WorkflowId",
    "WorkflowSettings",
    "WorkflowStatus",
]


WorkflowId = Annotated[
    str, Field(min_length=1, max_length=256), AfterValidator(refuse_unstorable_text)
]
"""A workflow's id as records carry it: what ``ExecutionRequest.workflow_id`` accepts, so that a
changelog record every reader stores or passes on never holds an id they cannot (a NUL there
once crashed the scheduler's schedule store at every restart)."""


class WorkflowChange(BaseModel):
    """One record on ``workflows.changelog``: a workflow's full definition at a version.

    ``workflow`` is null when the workflow was deleted. Readers keep the highest version per
    workflow and may see any record more than once. The record key is ``tenant_id/workflow_id``
    (so a compacting broker keeps one record per workflow); the partition is chosen from the
    tenant id alone, exactly as for ``events.normalized`` (see ``shared.kafka.tenant_partitioner``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    workflow_id: WorkflowId
    version: int = Field(ge=1)
    workflow: WorkflowDefinition | None
    changed_at: AwareDatetime

    @property
    def key(self) -> str:
        return f"{self.tenant_id}/{self.workflow_id}"
