"""The workflow definition (SPEC §3): trigger → conditions → actions, with its settings.

One model serves the config API (validation when saved), the matcher (trigger, conditions,
enrollment), the scheduler (cron) and the executor (actions, rate limit, error handling), and dry
runs. It accepts every JSON example of seed 000 as written, keeps the seed's camelCase names when
it serializes, and reads back its own JSON unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, get_args

from cronsim import CronSim, CronSimError
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    computed_field,
    field_validator,
    model_validator,
)

from shared.contracts.envelope import TriggerType
from shared.timezones import valid_timezone
from shared.workflows.actions import Action, Recipient
from shared.workflows.conditions import ConditionGroup, known_field_types
from shared.workflows.limits import (
    DEFAULT_RETRY_COUNT,
    MAX_ACTIONS,
    MAX_DESCRIPTION_LENGTH,
    MAX_EXECUTIONS_PER_HOUR,
    MAX_NAME_LENGTH,
    MAX_RECIPIENTS,
    MAX_RETRY_COUNT,
)

WorkflowStatus = Literal["draft", "active", "paused", "archived"]
Enrollment = Literal["every_time", "once"]
"""Seed 001: run for every matching event (``every_time``), or only the first time a subject
matches (``once``)."""

PRODUCT_EVENT_TRIGGERS: Final[frozenset[str]] = frozenset(get_args(TriggerType)) - {
    "schedule.cron",
    "webhook.received",
    "workflow.triggered",
}
"""Triggers whose events carry the fields seed 000 documents (``value``, ``customerName`` …)."""

Name = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH)]
Description = Annotated[str, Field(max_length=MAX_DESCRIPTION_LENGTH)]

_CAMEL_CASE = ConfigDict(
    frozen=True, extra="forbid", validate_by_alias=True, serialize_by_alias=True
)


CatchUp = Literal["skip", "once"]
"""What a cron schedule does about a slot the scheduler missed (it was down or far behind):
``once`` fires the first missed slot once, late; ``skip`` fires nothing until the next slot."""


class Schedule(BaseModel):
    """When a ``schedule.cron`` workflow fires: a five-field cron expression in an IANA zone.

    ``catchUp`` says what happens to a slot missed while the scheduler was down: ``once`` (the
    default) fires one late event for all the slots missed, ``skip`` fires none.
    """

    model_config = _CAMEL_CASE

    cron: str = Field(min_length=9, max_length=120, examples=["0 9 * * 1-5"])
    timezone: str = Field(default="UTC", max_length=64, examples=["Europe/Paris"])
    catch_up: CatchUp = Field(
        default="once",
        alias="catchUp",
        description="after downtime: fire one late event for the missed slots, or skip them",
    )

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
        return valid_timezone(value)


class WorkflowSettings(BaseModel):
    """The workflow's rate limit.

    At most ``maxExecutionsPerHour`` executions start per hour (unset: no limit); the ones over it
    are run later, in order (``throttleAction: queue``), or recorded as throttled and skipped
    (``drop``).
    """

    model_config = _CAMEL_CASE

    max_executions_per_hour: int | None = Field(
        default=None, ge=1, le=MAX_EXECUTIONS_PER_HOUR, alias="maxExecutionsPerHour"
    )
    throttle_action: Literal["queue", "drop"] = Field(default="queue", alias="throttleAction")


class ErrorHandling(BaseModel):
    """What a failed action does to its execution.

    A failed step is tried ``retryCount`` more times; if it still fails, ``onError`` decides:
    ``stop`` (the default) ends the execution as failed, ``continue`` records the failure and goes
    on with the next action, ``retry`` is ``stop`` after retries (``retryCount`` defaults to
    ``DEFAULT_RETRY_COUNT`` with it). The addresses in ``notifyOnFailure`` are told when an
    execution fails.
    """

    model_config = _CAMEL_CASE

    on_error: Literal["continue", "stop", "retry"] = Field(default="stop", alias="onError")
    retry_count: int = Field(default=0, ge=0, le=MAX_RETRY_COUNT, alias="retryCount")
    notify_on_failure: list[Recipient] = Field(
        default_factory=list, max_length=MAX_RECIPIENTS, alias="notifyOnFailure"
    )

    @model_validator(mode="before")
    @classmethod
    def _retry_retries(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("onError") == "retry" and "retryCount" not in data:
            return {**data, "retryCount": DEFAULT_RETRY_COUNT}
        return data

    @model_validator(mode="after")
    def _retry_needs_retries(self) -> ErrorHandling:
        if self.on_error == "retry" and self.retry_count == 0:
            raise ValueError("'onError': 'retry' needs a 'retryCount' of at least 1")
        return self


def status_from_active(data: Any) -> Any:
    """Seed 000's ``"active": true|false`` is ``status`` ``active``/``paused``; both at once must
    agree."""
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


class WorkflowDefinition(BaseModel):
    """What a user writes: trigger, conditions, actions, settings, status.

    Server fields (id, tenant, version, timestamps, author) live beside it, not in it.
    ``conditions`` decide whether an event runs the workflow at all; each action may add its own.
    ``exitConditions`` (seed 001, same shapes and checks as ``conditions``) end a waiting
    execution when a later event about the same subject meets them.
    """

    model_config = _CAMEL_CASE

    name: Name
    description: Description = ""
    trigger: TriggerType
    schedule: Schedule | None = None
    conditions: ConditionGroup | None = None
    exit_conditions: ConditionGroup | None = Field(
        default=None,
        alias="exitConditions",
        description="seed 001: an event of the same subject meeting them, while an execution "
        "waits (a delay or a queued run), ends that execution as exited",
    )
    actions: list[Action] = Field(min_length=1, max_length=MAX_ACTIONS)
    settings: WorkflowSettings = Field(default_factory=WorkflowSettings)
    error_handling: ErrorHandling = Field(default_factory=ErrorHandling, alias="errorHandling")
    enrollment: Enrollment = "every_time"
    status: WorkflowStatus = "draft"

    @model_validator(mode="before")
    @classmethod
    def _active_synonym(cls, data: Any) -> Any:
        return status_from_active(data)

    @model_validator(mode="wrap")
    @classmethod
    def _rules_know_the_fields_of_product_events(
        cls, data: Any, handler: ModelWrapValidatorHandler[WorkflowDefinition]
    ) -> WorkflowDefinition:
        trigger = data.get("trigger") if isinstance(data, Mapping) else None
        if not (isinstance(trigger, str) and trigger in PRODUCT_EVENT_TRIGGERS):
            return handler(data)
        with known_field_types():
            return handler(data)

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


class WorkflowUpdate(BaseModel):
    """A partial definition: the top-level fields an update replaces, any subset of them.

    Seed 000's ``PUT`` bodies ``{"active": false}`` and ``{"name": "Updated Workflow", "active":
    true}`` are updates, as are its ``{"actions": [...]}``, ``{"settings": ...}`` and
    ``{"errorHandling": ...}`` fragments. Each field is checked exactly as in
    ``WorkflowDefinition``, so errors name the path in the body sent; whether the fields fit
    together (a cron trigger needs a schedule, required fields are not null) is known only once
    the update is merged into the current definition and validated as a whole.
    """

    model_config = _CAMEL_CASE

    name: Name | None = None
    description: Description | None = None
    trigger: TriggerType | None = None
    schedule: Schedule | None = None
    conditions: ConditionGroup | None = None
    exit_conditions: ConditionGroup | None = Field(default=None, alias="exitConditions")
    actions: Annotated[list[Action], Field(min_length=1, max_length=MAX_ACTIONS)] | None = None
    settings: WorkflowSettings | None = None
    error_handling: ErrorHandling | None = Field(default=None, alias="errorHandling")
    enrollment: Enrollment | None = None
    status: WorkflowStatus | None = None

    @model_validator(mode="before")
    @classmethod
    def _active_synonym(cls, data: Any) -> Any:
        return status_from_active(data)
