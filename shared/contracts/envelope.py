"""The normalized event envelope: CloudEvents 1.0, structured JSON mode (SPEC §2.1)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from shared.contracts.storable import storage_problems

TriggerType = Literal[
    "private_offer.created",
    "private_offer.sent",
    "private_offer.viewed",
    "private_offer.accepted",
    "private_offer.expired",
    "private_offer.cancelled",
    "contract.created",
    "contract.expiring",
    "contract.expired",
    "contract.renewed",
    "contract.cancelled",
    "customer.created",
    "customer.updated",
    "customer.churned",
    "metering.submitted",
    "metering.confirmed",
    "metering.failed",
    "revenue.milestone",
    "revenue.daily_summary",
    "schedule.cron",
    "webhook.received",
    "workflow.triggered",
]
"""Every event type a workflow can be triggered by (seed 000, plus the system's own)."""

TENANT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"

HOOK_SOURCE = "hook"
"""The ``source`` of the ``webhook.received`` events of workflows' inbound hooks (ingest's
``POST /v1/hooks/{tenant}/{token}``): their ``subject`` is the one workflow they are for. Other
``webhook.received`` events (vendor events without a seed trigger) name no workflow."""

MAX_DATA_DEPTH = 32
"""Nesting levels of objects and lists in an event's ``data``."""

MAX_CHAIN_DEPTH = 1000
"""The largest ``chaindepth`` an envelope may carry (the executor stops chains far earlier)."""


class CloudEvent(BaseModel):
    """One domain event on ``events.normalized``, keyed by ``tenantid``.

    ``id`` is unique per source event: the same source event delivered twice has the same id,
    which is what makes execution ids deterministic.

    ``chaindepth`` is a CloudEvents extension attribute the executor sets on the
    ``workflow.triggered`` events its ``trigger_workflow`` actions publish: how many workflows
    led to this event (1 for an event published by a workflow that an outside event triggered).
    It is absent from every other event, and left out of the JSON when unset.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=256)
    type: TriggerType
    time: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
    tenantid: str = Field(pattern=TENANT_ID_PATTERN)
    subject: str | None = Field(default=None, max_length=256)
    datacontenttype: Literal["application/json"] = "application/json"
    data: dict[str, Any] = Field(default_factory=dict)
    chaindepth: int | None = Field(
        default=None, ge=0, le=MAX_CHAIN_DEPTH, exclude_if=lambda depth: depth is None
    )

    @field_validator("id", "source", "subject", "data")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        problems = storage_problems(value, path=str(info.field_name), max_depth=MAX_DATA_DEPTH)
        if problems:
            raise ValueError("; ".join(f"{p['path']}: {p['message']}" for p in problems[:3]))
        return value


class EventDeadLetter(BaseModel):
    """An input ingest could not accept, on ``events.deadletter``, with the reason.

    Also the record of an input that is not an event but must not vanish (an SNS subscription
    confirmation, ``error.code`` ``sns_subscription_confirmation``). ``received_base64`` holds the
    exact bytes when they are not valid UTF-8 (``received`` is then a lossy rendering).
    """

    model_config = ConfigDict(frozen=True)

    received: str = Field(description="the rejected input as received (decoded as UTF-8)")
    received_base64: str | None = Field(
        default=None, description="the exact bytes, when they are not valid UTF-8"
    )
    headers: dict[str, str] = Field(
        default_factory=dict, description="the record's or request's headers (no credentials)"
    )
    source: str | None = None
    tenant: str | None = None
    error: dict[str, Any] = Field(description="{code, message, path}")
    rejected_at: AwareDatetime = Field(default_factory=lambda: datetime.now(UTC))
