"""The workflow definition (SPEC §3) and its changelog record on ``workflows.changelog``.

One definition serves the config API (validation), the matcher (triggers), the scheduler (cron)
and the executor (actions). This is the thin first cut: triggers, cron schedules and the
``webhook`` action; conditions and the rest of the action catalogue extend it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import (
    AnyHttpUrl,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    field_validator,
    model_validator,
)

from shared.contracts.envelope import TENANT_ID_PATTERN, TriggerType

WorkflowStatus = Literal["draft", "active", "paused", "archived"]

MAX_ACTIONS = 50
MAX_HEADERS = 20


class Schedule(BaseModel):
    """When a ``schedule.cron`` workflow fires: a five-field cron expression in an IANA zone."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cron: str = Field(min_length=9, max_length=120, examples=["0 9 * * 1-5"])
    timezone: str = Field(default="UTC", max_length=64, examples=["Europe/Paris"])

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        try:
            CronSim(value, datetime.now(UTC))
        except CronSimError as error:
            raise ValueError(f"invalid cron expression: {error}") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value


class WebhookAction(BaseModel):
    """POST the triggering event (signed, Standard Webhooks) to ``url``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["webhook"]
    url: AnyHttpUrl
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = Field(default_factory=dict, max_length=MAX_HEADERS)


Action = Annotated[WebhookAction, Field(discriminator="type")]


class WorkflowDefinition(BaseModel):
    """What a user writes: trigger, actions, status. Server fields live beside it, not in it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=2000)
    trigger: TriggerType
    schedule: Schedule | None = None
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    status: WorkflowStatus = "draft"

    @model_validator(mode="before")
    @classmethod
    def _active_is_a_status_synonym(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "active" not in data:
            return data
        data = dict(data)
        active = data.pop("active")
        if not isinstance(active, bool):
            raise ValueError("'active' must be true or false")
        implied = "active" if active else "paused"
        status = data.get("status")
        if status is None:
            data["status"] = implied
        elif (status == "active") != active:
            raise ValueError(f"'active': {str(active).lower()} contradicts 'status': {status!r}")
        return data

    @model_validator(mode="after")
    def _schedule_goes_with_cron(self) -> WorkflowDefinition:
        if self.trigger == "schedule.cron" and self.schedule is None:
            raise ValueError("a 'schedule.cron' trigger needs 'schedule': {cron, timezone}")
        if self.trigger != "schedule.cron" and self.schedule is not None:
            raise ValueError("'schedule' is only allowed with the 'schedule.cron' trigger")
        return self

    @computed_field  # type: ignore[prop-decorator]
    @property
    def active(self) -> bool:
        return self.status == "active"


class WorkflowChange(BaseModel):
    """One record on ``workflows.changelog``: a workflow's full definition at a version.

    ``workflow`` is null when the workflow was deleted. Readers keep the highest version per
    workflow and may see any record more than once. The record key is ``tenant_id/workflow_id``
    (so a compacting broker keeps one record per workflow); the partition is chosen from the
    tenant id alone, exactly as for ``events.normalized`` (see ``shared.kafka.tenant_partitioner``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    workflow_id: str
    version: int = Field(ge=1)
    workflow: WorkflowDefinition | None
    changed_at: AwareDatetime

    @property
    def key(self) -> str:
        return f"{self.tenant_id}/{self.workflow_id}"
