"""A tenant's settings, its named email templates (with the seed's examples) and its inbound
secrets' inputs."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.config_api.domain.inputs import Conflict, InvalidInput, validation_details
from shared.timezones import MAX_TIMEZONE_LENGTH, valid_timezone

TEMPLATE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class NameTaken(Conflict):
    """Another template of the tenant already has this name."""

    code = "name_taken"


class EmailTemplateInput(BaseModel):
    """A named email template; ``subject``, ``body`` and ``htmlBody`` use the workflow template
    syntax. ``body`` is the plain-text body; ``htmlBody`` the HTML one, where the data is
    HTML-escaped when rendered. Without ``htmlBody`` the e-mail's HTML part is the text body,
    escaped, its line breaks kept: every message has both parts."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", validate_by_alias=True, serialize_by_alias=True
    )

    name: str = Field(
        pattern=TEMPLATE_NAME_PATTERN,
        description="unique per tenant; what an email action's `template` names",
        examples=["high-value-deal"],
    )
    # One header line: CR or LF would let a subject inject headers into the message.
    subject: str = Field(min_length=1, max_length=998, pattern=r"^[^\r\n]*$")
    body: str = Field(min_length=1, max_length=100_000, description="the plain-text body")
    html_body: str | None = Field(
        default=None,
        alias="htmlBody",
        min_length=1,
        max_length=200_000,
        description="the HTML body; null: the text body, as HTML",
    )


def parse_template(body: object) -> EmailTemplateInput:
    try:
        return EmailTemplateInput.model_validate(body)
    except ValidationError as error:
        raise InvalidInput("the email template is invalid", validation_details(error)) from None


def new_template_id() -> str:
    return f"tpl_{uuid.uuid4().hex}"


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    """A stored template."""

    id: str
    tenant_id: str
    content: EmailTemplateInput
    created_at: datetime
    updated_at: datetime
    created_by: str

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            **self.content.model_dump(mode="json"),
            "createdAt": self.created_at.isoformat(),
            "updatedAt": self.updated_at.isoformat(),
            "createdBy": self.created_by,
        }


TEMPLATE_READ_ONLY_FIELDS = frozenset({"id", "createdAt", "updatedAt", "createdBy"})


def merge_template(current: EmailTemplateInput, body: object) -> EmailTemplateInput:
    """A partial update: the body's fields replace the current ones (server fields ignored)."""
    if not isinstance(body, Mapping):
        raise InvalidInput(
            "the body must be a JSON object", [{"path": "$", "message": "expected an object"}]
        )
    fields = {k: v for k, v in body.items() if k not in TEMPLATE_READ_ONLY_FIELDS}
    return parse_template({**current.model_dump(), **fields})


class InboundSecretInput(BaseModel):
    """``PUT /api/inbound-secrets/{source}``: the shared secret; write-only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Visible ASCII only: bearer-style secrets travel in an HTTP header.
    secret: str = Field(min_length=16, max_length=1024, pattern=r"^[\x21-\x7e]+$")


def parse_secret(body: object) -> InboundSecretInput:
    try:
        return InboundSecretInput.model_validate(body)
    except ValidationError as error:
        # The details carry pydantic's messages only, which never quote the input.
        raise InvalidInput("the inbound secret is invalid", validation_details(error)) from None


EXAMPLE_TEMPLATES: tuple[EmailTemplateInput, ...] = (
    EmailTemplateInput(
        name="high-value-deal",
        subject="Big win: {{customerName}} accepted a ${{value}} deal",
        body=(
            "{{customerName}} accepted {{offerName}} for {{productName}} on {{marketplace}}.\n"
            "Value: ${{value}} over {{duration}} months.\n\n"
            "{{#if value > 100000}}\n"
            "This is a high-value deal requiring executive approval.\n"
            "{{else}}\n"
            "Standard deal processing applies.\n"
            "{{/if}}\n"
        ),
        htmlBody=(
            "<h1>Big win: {{customerName}}</h1>\n"
            "<p><strong>{{customerName}}</strong> accepted {{offerName}} for {{productName}} on "
            "{{marketplace}}.</p>\n"
            "<p>Value: <strong>${{value}}</strong> over {{duration}} months.</p>\n"
            "{{#if value > 100000}}<p>This is a high-value deal requiring executive approval.</p>"
            "{{else}}<p>Standard deal processing applies.</p>{{/if}}\n"
        ),
    ),
    EmailTemplateInput(
        name="renewal-reminder-internal",
        subject="Renewal in {{daysUntilExpiry}} days: {{customerName}}",
        body=(
            "The contract {{contractId}} with {{customerName}} for {{productName}} ends on "
            "{{contractEndDate}} ({{daysUntilExpiry}} days from now).\n\n"
            "A renewal task and a draft renewal offer have been created. Please reach out to the "
            "customer this week.\n"
        ),
        htmlBody=(
            "<p>The contract <strong>{{contractId}}</strong> with {{customerName}} for "
            "{{productName}} ends on <strong>{{contractEndDate}}</strong> ({{daysUntilExpiry}} "
            "days from now).</p>\n"
            "<p>A renewal task and a draft renewal offer have been created. Please reach out to "
            "the customer this week.</p>\n"
        ),
    ),
    EmailTemplateInput(
        name="welcome-email",
        subject="Welcome to {{productName}}, {{customerName}}!",
        body=(
            "Hello {{customerName}},\n\n"
            "Thank you for subscribing to {{productName}} through {{marketplace}}. Your customer "
            "success team will contact you shortly to schedule a kickoff call.\n\n"
            "Welcome aboard!\n"
        ),
        htmlBody=(
            "<p>Hello {{customerName}},</p>\n"
            "<p>Thank you for subscribing to <strong>{{productName}}</strong> through "
            "{{marketplace}}. Your customer success team will contact you shortly to schedule a "
            "kickoff call.</p>\n<p>Welcome aboard!</p>\n"
        ),
    ),
    EmailTemplateInput(
        name="welcome",
        subject="Welcome, {{customerName}}",
        body=(
            "Hello {{customerName}},\n\n"
            "Welcome! Everything you need to get started with {{productName}} is in your "
            "account.\n"
        ),
        htmlBody=(
            "<p>Hello {{customerName}},</p>\n"
            "<p>Welcome! Everything you need to get started with {{productName}} is in your "
            "account.</p>\n"
        ),
    ),
    EmailTemplateInput(
        name="follow-up",
        subject="How is {{productName}} working for you?",
        body=(
            "Hello {{customerName}},\n\n"
            "A couple of days ago you started with {{productName}}. Is everything working as "
            "expected? Just reply to this email if anything is unclear.\n"
        ),
        htmlBody=(
            "<p>Hello {{customerName}},</p>\n"
            "<p>A couple of days ago you started with {{productName}}. Is everything working as "
            "expected? Just reply to this email if anything is unclear.</p>\n"
        ),
    ),
)
"""The template names seed 000 uses, installed as editable examples for a tenant."""


class TenantPatch(BaseModel):
    """``PUT /api/tenant``: the tenant's display name and/or time zone (absent: unchanged).

    The time zone is an IANA name (``Europe/Paris``); the tenant's calendar days (contract
    reminders, daily summaries) are counted in it. UTC until set.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(
        default=None, max_length=MAX_TIMEZONE_LENGTH, examples=["Europe/Paris"]
    )

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, value: str | None) -> str | None:
        return None if value is None else valid_timezone(value)


TENANT_READ_ONLY_FIELDS = frozenset({"id", "createdAt"})


def parse_tenant_patch(body: object) -> TenantPatch:
    """The patch in ``body``; server fields (``id``, ``createdAt``) are ignored, so a GET can be
    sent back."""
    if not isinstance(body, Mapping):
        raise InvalidInput(
            "the body must be a JSON object", [{"path": "$", "message": "expected an object"}]
        )
    fields = {k: v for k, v in body.items() if k not in TENANT_READ_ONLY_FIELDS}
    try:
        return TenantPatch.model_validate(fields)
    except ValidationError as error:
        raise InvalidInput("the tenant settings are invalid", validation_details(error)) from None
