"""The action catalogue (SPEC §3, seed 000): one schema per action ``type``, a tagged union.

Field names are the seed's own, camelCase (``assignTo``, ``dueDate``, ``workflowId``), accepted
exactly as written and written back the same way. Every action may carry ``conditions``, its own
"only if" (seed 001): the action runs only when the event satisfies them. Texts that actions send
are templates (``shared.workflows.templates``), checked when the workflow is saved; fields that
name things (channels, objects, users, recipients) take a literal or a template.

Where each action goes is SPEC §6; which ones the executor performs today is its own business.
"""

from __future__ import annotations

import json
import math
import re
from datetime import timedelta
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    PlainValidator,
    UrlConstraints,
    field_validator,
    model_validator,
)

from shared.workflows.conditions import ConditionGroup
from shared.workflows.limits import (
    MAX_API_BODY_LENGTH,
    MAX_DELAY,
    MAX_EMAIL_LENGTH,
    MAX_HEADER_VALUE_LENGTH,
    MAX_HEADERS,
    MAX_IDENTIFIER_LENGTH,
    MAX_MAPPING_FIELDS,
    MAX_OFFER_DURATION_MONTHS,
    MAX_RECIPIENTS,
    MAX_TAGS,
    MAX_TASKS_IN_SERIES,
    MAX_TEMPLATE_LENGTH,
    MAX_TITLE_LENGTH,
    MAX_URL_LENGTH,
)
from shared.workflows.templates import validate_date_field, validate_template

DEFAULT_EMAIL_RECIPIENT: Final = "{{customerEmail}}"
"""Who an ``email`` without ``to`` goes to: the event's customer (seed 000's delay example)."""

_EMAIL = re.compile(
    r"[^@\s<>(),;:\"\[\]\\]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)
_USER = re.compile(r"[A-Za-z0-9_.@+-]+")
_SLACK_CHANNEL = re.compile(r"#[a-z0-9][a-z0-9_.-]{0,79}|@[A-Za-z0-9_.-]{1,80}|[CDG][A-Z0-9]{8,20}")
_RECORD_ID = re.compile(r"[A-Za-z0-9_-]+")
_DURATION = re.compile(r"(\d{1,9})\s*(second|minute|hour|day|week)s?", re.IGNORECASE)


def is_email_address(text: str) -> bool:
    """Whether ``text`` is one plain e-mail address: no display name, no line breaks."""
    return len(text) <= MAX_EMAIL_LENGTH and _EMAIL.fullmatch(text) is not None


def _literal_or_template(pattern: re.Pattern[str], what: str) -> Any:
    """A validator: ``text`` matches ``pattern``, or is a template (rendered when the action runs)."""

    def check(text: str) -> str:
        if "{{" in text:
            return validate_template(text)
        if pattern.fullmatch(text) is None:
            raise ValueError(f"{text!r} is not {what}, nor a template such as {{{{variable}}}}")
        return text

    return AfterValidator(check)


Template = Annotated[
    str, Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH), AfterValidator(validate_template)
]
"""A text an action sends, with ``{{variables}}`` and ``{{#if}}`` blocks."""
Title = Annotated[
    str, Field(min_length=1, max_length=MAX_TITLE_LENGTH), AfterValidator(validate_template)
]
Recipient = Annotated[
    str,
    Field(min_length=1, max_length=MAX_EMAIL_LENGTH, examples=["ops@example.com"]),
    _literal_or_template(_EMAIL, "an e-mail address"),
]
UserRef = Annotated[
    str,
    Field(min_length=1, max_length=MAX_IDENTIFIER_LENGTH, examples=["account_owner"]),
    _literal_or_template(_USER, "a user: a role such as account_owner, a user id or an e-mail"),
]
"""Who gets a task or a notification: a role (``account_owner``), a user id, or an e-mail."""
RecordId = Annotated[
    str,
    Field(min_length=1, max_length=MAX_IDENTIFIER_LENGTH),
    _literal_or_template(_RECORD_ID, "a record id"),
]
SlackChannel = Annotated[
    str,
    Field(min_length=1, max_length=MAX_IDENTIFIER_LENGTH, examples=["#sales-wins"]),
    _literal_or_template(_SLACK_CHANNEL, "a Slack channel (#name, @user or a channel id)"),
]
DueDate = Annotated[
    str,
    Field(min_length=1, max_length=MAX_TITLE_LENGTH, examples=["+7 days", "end_of_month"]),
    AfterValidator(validate_date_field),
]
TemplateName = Annotated[
    str,
    Field(
        max_length=MAX_IDENTIFIER_LENGTH,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        examples=["welcome-email"],
    ),
]
"""A named e-mail template, a tenant resource in the config API."""
ApiName = Annotated[
    str, Field(max_length=MAX_IDENTIFIER_LENGTH, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
]
"""A CRM object or field API name (``Opportunity``, ``StageName``, ``Amount__c``)."""
HttpUrl = Annotated[AnyHttpUrl, UrlConstraints(max_length=MAX_URL_LENGTH)]
HeaderName = Annotated[
    str, Field(max_length=MAX_IDENTIFIER_LENGTH, pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
]
HeaderValue = Annotated[str, Field(max_length=MAX_HEADER_VALUE_LENGTH, pattern=r"^[^\r\n\x00]*$")]


def _mapped_value(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_TEMPLATE_LENGTH:
            raise ValueError(f"a value is at most {MAX_TEMPLATE_LENGTH} characters")
        return validate_template(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("a number must be finite")
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ValueError("a field's value is a template string, a number, a boolean or null")


MappedValue = Annotated[
    str | bool | int | float | None,
    PlainValidator(_mapped_value, json_schema_input_type=str | bool | int | float | None),
]
"""A CRM or record field's new value: a template, or a JSON scalar written as is."""
Priority = Literal["low", "medium", "high", "urgent"]


class _Action(BaseModel):
    """What every action has: its ``type`` and an optional "only if" (``conditions``)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_alias=True, serialize_by_alias=True
    )

    type: str
    conditions: ConditionGroup | None = Field(
        default=None,
        exclude_if=lambda conditions: conditions is None,
        description="Only if: the action runs only when the event satisfies these.",
    )


class EmailAction(_Action):
    """Send an e-mail: a named ``template``, or an inline ``subject`` and ``body``.

    Without ``to`` it goes to the event's customer (``DEFAULT_EMAIL_RECIPIENT``).
    """

    type: Literal["email"]
    to: Annotated[list[Recipient], Field(min_length=1, max_length=MAX_RECIPIENTS)] | None = None
    template: TemplateName | None = None
    subject: Title | None = None
    body: Template | None = None

    @model_validator(mode="after")
    def _template_or_inline(self) -> EmailAction:
        inline = (self.subject is not None, self.body is not None)
        if self.template is not None and any(inline):
            raise ValueError(
                "an e-mail has a 'template' or an inline 'subject' and 'body', not both"
            )
        if self.template is None and not all(inline):
            raise ValueError("an e-mail needs a 'template', or both 'subject' and 'body'")
        return self

    @property
    def recipients(self) -> list[str]:
        """``to``, or the event's customer when ``to`` is not given."""
        return list(self.to) if self.to is not None else [DEFAULT_EMAIL_RECIPIENT]


class SlackAction(_Action):
    """Post ``message`` to a Slack ``channel`` (``#name``, ``@user`` or a channel id)."""

    type: Literal["slack"]
    channel: SlackChannel
    message: Template


class TeamsAction(_Action):
    """Post ``message`` to a Microsoft Teams incoming webhook: ``url``, else the deployment's."""

    type: Literal["teams"]
    url: HttpUrl | None = None
    title: Title | None = None
    message: Template


class WebhookAction(_Action):
    """POST the triggering event (signed, Standard Webhooks) to ``url``."""

    type: Literal["webhook"]
    url: HttpUrl
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict, max_length=MAX_HEADERS)


class InAppNotificationAction(_Action):
    """Show a notification in the product to the users in ``to``."""

    type: Literal["in_app_notification"]
    to: list[UserRef] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    title: Title | None = None
    message: Template


class SalesforceCreateAction(_Action):
    """Create a Salesforce record of ``object`` with the fields in ``mapping``."""

    type: Literal["salesforce_create"]
    sobject: ApiName = Field(alias="object", examples=["Opportunity"])
    mapping: dict[ApiName, MappedValue] = Field(min_length=1, max_length=MAX_MAPPING_FIELDS)


class SalesforceUpdateAction(_Action):
    """Update Salesforce record ``recordId`` of ``object`` with the fields in ``mapping``."""

    type: Literal["salesforce_update"]
    sobject: ApiName = Field(alias="object", examples=["Opportunity"])
    record_id: RecordId = Field(alias="recordId")
    mapping: dict[ApiName, MappedValue] = Field(min_length=1, max_length=MAX_MAPPING_FIELDS)


HubSpotObject = Annotated[
    str,
    Field(max_length=MAX_IDENTIFIER_LENGTH, pattern=r"^(?:[a-z][a-z_]*|\d+-\d+)$"),
]
"""A HubSpot CRM object type: ``contacts``, ``companies``, ``deals``, … or a custom ``2-123``."""
HubSpotProperty = Annotated[
    str, Field(max_length=MAX_IDENTIFIER_LENGTH, pattern=r"^[A-Za-z0-9_]+$")
]


class HubSpotCreateAction(_Action):
    """Create a HubSpot CRM object of type ``object`` with the properties in ``mapping``."""

    type: Literal["hubspot_create"]
    object_type: HubSpotObject = Field(alias="object", examples=["deals"])
    mapping: dict[HubSpotProperty, MappedValue] = Field(min_length=1, max_length=MAX_MAPPING_FIELDS)


class HubSpotUpdateAction(_Action):
    """Update HubSpot object ``recordId`` of type ``object`` with the properties in ``mapping``."""

    type: Literal["hubspot_update"]
    object_type: HubSpotObject = Field(alias="object", examples=["deals"])
    record_id: RecordId = Field(alias="recordId")
    mapping: dict[HubSpotProperty, MappedValue] = Field(min_length=1, max_length=MAX_MAPPING_FIELDS)


class LogActivityAction(_Action):
    """Record an activity (a note, call, e-mail, meeting or task) on the event's account."""

    type: Literal["log_activity"]
    subject: Title
    body: Template | None = None
    activity_type: Literal["note", "call", "email", "meeting", "task"] = Field(
        default="note", alias="activityType"
    )


class CreateTaskAction(_Action):
    """Create a task for ``assignTo``, due ``dueDate`` (date math such as ``+7 days``)."""

    type: Literal["create_task"]
    title: Title
    description: Template | None = None
    assign_to: UserRef = Field(alias="assignTo")
    due_date: DueDate | None = Field(default=None, alias="dueDate")
    priority: Priority = "medium"
    project: Title | None = Field(default=None, description="Add to project (seed 000).")


class TaskInSeries(BaseModel):
    """One task of a ``create_task_series``; without ``assignTo`` it goes to the series'."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_alias=True, serialize_by_alias=True
    )

    title: Title
    description: Template | None = None
    assign_to: UserRef | None = Field(default=None, alias="assignTo")
    due_date: DueDate | None = Field(default=None, alias="dueDate")
    priority: Priority = "medium"


class CreateTaskSeriesAction(_Action):
    """Create several tasks at once (an onboarding plan), each assigned and due on its own."""

    type: Literal["create_task_series"]
    tasks: list[TaskInSeries] = Field(min_length=1, max_length=MAX_TASKS_IN_SERIES)
    assign_to: UserRef | None = Field(default=None, alias="assignTo")

    @model_validator(mode="after")
    def _every_task_assigned(self) -> CreateTaskSeriesAction:
        if self.assign_to is None:
            unassigned = [i for i, task in enumerate(self.tasks) if task.assign_to is None]
            if unassigned:
                raise ValueError(
                    f"tasks[{unassigned[0]}] has no 'assignTo', and neither has the series"
                )
        return self


class AssignToUserAction(_Action):
    """Make ``assignTo`` the owner of the event's account or contact (seed 001's attribution)."""

    type: Literal["assign_to_user"]
    assign_to: UserRef = Field(alias="assignTo")


RecordType = Annotated[
    str,
    Field(
        max_length=MAX_IDENTIFIER_LENGTH,
        pattern=r"^[a-z][a-z0-9_]*$",
        examples=["customer", "contract", "private_offer"],
    ),
]
"""A kind of record in the product's own tables."""


class UpdateRecordAction(_Action):
    """Set the fields in ``mapping`` on a product record: ``recordId``, else the event's subject."""

    type: Literal["update_record"]
    record_type: RecordType = Field(alias="recordType")
    record_id: RecordId | None = Field(default=None, alias="recordId")
    mapping: dict[ApiName, MappedValue] = Field(min_length=1, max_length=MAX_MAPPING_FIELDS)


class CreateRecordAction(_Action):
    """Create a product record of ``recordType`` with the fields in ``mapping``."""

    type: Literal["create_record"]
    record_type: RecordType = Field(alias="recordType")
    mapping: dict[ApiName, MappedValue] = Field(min_length=1, max_length=MAX_MAPPING_FIELDS)


class TagAction(_Action):
    """Tag (label) the event's subject with each of ``tags``."""

    type: Literal["tag"]
    tags: list[Annotated[Title, Field(max_length=MAX_IDENTIFIER_LENGTH)]] = Field(
        min_length=1, max_length=MAX_TAGS
    )


class CallApiAction(_Action):
    """Call an external HTTP API: ``method`` ``url`` with ``headers`` and a JSON ``body``.

    Header values and every string inside ``body`` are templates.
    """

    type: Literal["call_api"]
    url: HttpUrl
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE"] = "POST"
    headers: dict[HeaderName, Annotated[HeaderValue, AfterValidator(validate_template)]] = Field(
        default_factory=dict, max_length=MAX_HEADERS
    )
    body: JsonValue = None

    @field_validator("body")
    @classmethod
    def _bounded_templated_body(cls, body: JsonValue) -> JsonValue:
        size = len(json.dumps(body, separators=(",", ":"), ensure_ascii=False))
        if size > MAX_API_BODY_LENGTH:
            raise ValueError(f"a body is at most {MAX_API_BODY_LENGTH} characters of JSON")
        pending: list[JsonValue] = [body]
        while pending:
            value = pending.pop()
            if isinstance(value, str):
                validate_template(value)
            elif isinstance(value, list):
                pending.extend(value)
            elif isinstance(value, dict):
                pending.extend(value.values())
        return body

    @model_validator(mode="after")
    def _no_body_on_get(self) -> CallApiAction:
        if self.method == "GET" and self.body is not None:
            raise ValueError("a GET request sends no 'body'")
        return self


class TriggerWorkflowAction(_Action):
    """Start workflow ``workflowId`` with a ``workflow.triggered`` event (chaining).

    With ``passData`` the new event carries this event's data.
    """

    type: Literal["trigger_workflow"]
    workflow_id: str = Field(
        alias="workflowId", pattern=r"^[A-Za-z0-9_-]{1,64}$", examples=["workflow_456"]
    )
    pass_data: bool = Field(default=False, alias="passData")


def parse_duration(text: str) -> timedelta:
    """How long ``text`` (``"2 days"``, ``"1 hour"``, ``"90 minutes"``) is.

    A positive whole number and a unit — second, minute, hour, day or week, singular or plural —
    at most ``MAX_DELAY``. Raises ``ValueError`` otherwise.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: write a number and a unit, e.g. '2 days' "
            "(seconds, minutes, hours, days or weeks)"
        )
    count, unit = int(match.group(1)), match.group(2).lower()
    if count == 0:
        raise ValueError("a delay must be longer than zero")
    if count > MAX_DELAY.days * 86_400:
        raise ValueError(f"a delay is at most {MAX_DELAY.days} days")
    period = timedelta(**{f"{unit}s": count})
    if period > MAX_DELAY:
        raise ValueError(f"a delay is at most {MAX_DELAY.days} days")
    return period


class DelayAction(_Action):
    """Wait ``duration`` (``"2 days"``) before the next action, in a durable timer."""

    type: Literal["delay"]
    duration: str = Field(max_length=40, examples=["2 days"])

    @field_validator("duration")
    @classmethod
    def _a_duration(cls, duration: str) -> str:
        parse_duration(duration)
        return duration

    @property
    def period(self) -> timedelta:
        """How long the delay is."""
        return parse_duration(self.duration)


class OfferAdjustments(BaseModel):
    """How a draft offer differs from what it is based on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    duration: int | None = Field(
        default=None, ge=1, le=MAX_OFFER_DURATION_MONTHS, description="Term, in months."
    )
    discount: Annotated[int | float, Field(ge=0, le=100)] | None = Field(
        default=None, description="Discount, in percent."
    )


class CreateDraftOfferAction(_Action):
    """Create a draft private offer (a renewal) from the current contract or offer."""

    type: Literal["create_draft_offer"]
    based_on: Literal["current_contract", "current_offer"] = Field(alias="basedOn")
    adjustments: OfferAdjustments = Field(default_factory=OfferAdjustments)
    name: Title | None = None


Action = Annotated[
    EmailAction
    | SlackAction
    | TeamsAction
    | WebhookAction
    | InAppNotificationAction
    | SalesforceCreateAction
    | SalesforceUpdateAction
    | HubSpotCreateAction
    | HubSpotUpdateAction
    | LogActivityAction
    | CreateTaskAction
    | CreateTaskSeriesAction
    | AssignToUserAction
    | UpdateRecordAction
    | CreateRecordAction
    | TagAction
    | CallApiAction
    | TriggerWorkflowAction
    | DelayAction
    | CreateDraftOfferAction,
    Field(discriminator="type"),
]
"""One step of a workflow; ``type`` says which schema applies."""

ACTION_TYPES: Final[tuple[str, ...]] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(get_args(Action)[0])
)
"""Every action ``type``, in catalogue order."""
