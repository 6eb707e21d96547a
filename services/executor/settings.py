"""The executor's own settings (prefix ``EXECUTOR_``), outbound HTTP (``WEBHOOK_``) and each
provider's endpoint and credentials under SPEC §6's unprefixed names.

Every variable, its default and its meaning is in ``docs/configuration.md`` (generated from the
field descriptions here). The webhook settings:

- ``WEBHOOK_SIGNING_SECRET``: the Standard Webhooks secret (``whsec_`` + base64) that signs every
  outbound webhook. The default, ``DEV_WEBHOOK_SIGNING_SECRET``, is public and only for local
  development; the service logs a warning while it is in use.
- ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` (false), ``WEBHOOK_TIMEOUT_SECONDS`` (10),
  ``WEBHOOK_RESPONSE_MAX_BYTES`` (262144): govern every outbound HTTP call, not only webhooks
  (call_api, Teams, Slack, Salesforce, HubSpot): whether loopback, private, link-local and
  other non-public addresses may be reached (only the local dev stack and tests allow it), the
  whole of one attempt from connect to last byte, and the most of an answer ever read.
- ``WEBHOOK_HOSTS`` (none): fixed addresses for host names, as ``/etc/hosts`` gives them
  (JSON, ``{"crm.internal.test": "10.0.0.5"}``), answered instead of DNS and checked like any
  resolved address: a name mapped to a private address is refused unless private networks are.
- ``SLACK_*``, ``SMTP_*`` and ``EMAIL_FROM``, ``TEAMS_WEBHOOK_URL``, ``SALESFORCE_*``,
  ``HUBSPOT_*``: where each provider's actions go (SPEC §6). A provider whose credentials are
  not set fails its steps as ``not_configured``.
- ``EXECUTOR_MAX_CHAIN_DEPTH`` (16): how many ``trigger_workflow`` hops a chain may take.
"""

from __future__ import annotations

import os
import socket

from pydantic import Field, IPvAnyAddress, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from standardwebhooks import Webhook

from services.executor.domain import RetryPolicy
from shared.contracts import Topics
from shared.settings import ServiceSettings

DEV_WEBHOOK_SIGNING_SECRET = "whsec_ZGV2LW9ubHktZXhlY3V0b3Itd2ViaG9vay1zZWNyZXQ="  # noqa: S105 - public dev default, see above


class WebhookSettings(BaseSettings):
    """Outbound webhooks. Unprefixed by service (SPEC §6): ``WEBHOOK_*``."""

    model_config = SettingsConfigDict(
        env_prefix="WEBHOOK_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    signing_secret: SecretStr = Field(
        default=SecretStr(DEV_WEBHOOK_SIGNING_SECRET),
        description="Standard Webhooks secret (`whsec_` + base64) signing every outbound webhook; "
        "the default is public, for development only",
    )
    allow_private_networks: bool = Field(
        default=False,
        description="let every outbound HTTP action reach loopback, private, link-local and "
        "other non-public addresses (the dev stack and tests only)",
    )
    timeout_seconds: float = Field(
        default=10.0, gt=0, description="one outbound HTTP attempt, connect to last byte"
    )
    response_max_bytes: int = Field(
        default=256 * 1024, ge=1024, description="the most of an HTTP answer ever read"
    )
    hosts: dict[str, IPvAnyAddress] = Field(
        default_factory=dict,
        description='fixed addresses for host names (JSON `{"name": "address"}`), answered '
        "instead of DNS and checked like any resolved address (tests, local setups)",
    )

    @field_validator("signing_secret")
    @classmethod
    def _a_standard_webhooks_secret(cls, value: SecretStr) -> SecretStr:
        try:
            Webhook(value.get_secret_value())
        except Exception:
            raise ValueError("must be a Standard Webhooks secret: 'whsec_' + base64") from None
        return value

    @property
    def uses_dev_secret(self) -> bool:
        return self.signing_secret.get_secret_value() == DEV_WEBHOOK_SIGNING_SECRET


class SlackSettings(BaseSettings):
    """The Slack Web API (SPEC §6): ``SLACK_*``."""

    model_config = SettingsConfigDict(
        env_prefix="SLACK_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    api_url: str = Field(
        default="https://slack.com/api", description="base URL of the Slack Web API"
    )
    bot_token: SecretStr | None = Field(
        default=None, description="bot token (`xoxb-…`) for chat.postMessage; unset: not configured"
    )


class SmtpSettings(BaseSettings):
    """The SMTP relay e-mail actions and failure notices go through (SPEC §6): ``SMTP_*``."""

    model_config = SettingsConfigDict(
        env_prefix="SMTP_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    host: str = Field(default="", description="SMTP server; unset: e-mail is not configured")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP port")
    username: str = Field(default="", description="login, when the server needs one")
    password: SecretStr | None = Field(default=None, description="password for the login")
    email_from: str = Field(
        default="",
        validation_alias="EMAIL_FROM",
        description="the sender of every e-mail (`Workflows <workflows@example.com>`)",
    )
    implicit_tls: bool = Field(
        default=False,
        description="TLS from the first byte (port 465); otherwise STARTTLS whenever offered",
    )
    ca_file: str = Field(
        default="", description="PEM file of the CA to trust for the server (a private relay)"
    )
    timeout_seconds: float = Field(default=15.0, gt=0, description="one whole SMTP session")

    @property
    def configured(self) -> bool:
        return bool(self.host and self.email_from)


class TeamsSettings(BaseSettings):
    """Microsoft Teams incoming webhooks (SPEC §6): ``TEAMS_*``."""

    model_config = SettingsConfigDict(
        env_prefix="TEAMS_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    webhook_url: SecretStr | None = Field(
        default=None,
        description="incoming-webhook URL for Teams actions that name none (a secret: its path "
        "is the credential)",
    )


class SalesforceSettings(BaseSettings):
    """The Salesforce REST API (SPEC §6): ``SALESFORCE_*``."""

    model_config = SettingsConfigDict(
        env_prefix="SALESFORCE_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    instance_url: str = Field(
        default="", description="`https://<domain>.my.salesforce.com`; unset: not configured"
    )
    access_token: SecretStr | None = Field(default=None, description="OAuth access token")
    api_version: str = Field(
        default="v62.0", pattern=r"^v\d{2}\.\d$", description="REST API version (`vXX.X`)"
    )


class HubSpotSettings(BaseSettings):
    """The HubSpot CRM v3 API (SPEC §6): ``HUBSPOT_*``."""

    model_config = SettingsConfigDict(
        env_prefix="HUBSPOT_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    api_url: str = Field(
        default="https://api.hubapi.com", description="base URL of the HubSpot API"
    )
    access_token: SecretStr | None = Field(
        default=None, description="private app or OAuth access token; unset: not configured"
    )


class ExecutorSettings(ServiceSettings):
    model_config = SettingsConfigDict(
        env_prefix="EXECUTOR_", frozen=True, extra="ignore", env_ignore_empty=True
    )

    port: int = Field(default=8083, ge=0, le=65535)
    consumer_group: str = Field(
        default="executor", description="consumer group reading executions.requested"
    )
    exit_consumer_group: str = Field(
        default="executor-exits",
        description="consumer group reading events.normalized for exit conditions",
    )
    max_poll_records: int = Field(
        default=20, ge=1, description="records fetched per partition at once"
    )
    max_in_flight: int = Field(
        default=200, ge=1, description="execution requests handled at once, over all partitions"
    )
    max_in_flight_per_partition: int = Field(
        default=100,
        ge=1,
        description="execution requests handled at once per partition (a slow or throttled "
        "workflow never holds up the rest of its partition)",
    )
    replica_id: str = Field(
        default="",
        max_length=100,
        description="who holds a lease, in executions.claimed_by (empty: host name and pid)",
    )
    lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="lease on an execution while a run performs its steps, renewed every third "
        "of it; another executor takes over a run that died once it expired",
    )
    inline_wait_max_seconds: float = Field(
        default=2.0,
        ge=0,
        description="longest wait (retry backoff, paused destination, another executor's lease) "
        "slept where the execution runs; longer ones park it in a durable timer",
    )
    action_retry_wait_initial_seconds: float = Field(
        default=0.5, ge=0, description="first backoff before a retry; doubles, plus jitter"
    )
    action_retry_wait_max_seconds: float = Field(
        default=300.0, ge=0, description="longest backoff between two attempts of a step"
    )
    max_retry_after_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="longest Retry-After honoured (and destination pause); longer ones are cut",
    )
    pause_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="how long a destination pause read from PostgreSQL is trusted before it is "
        "read again (pauses set by other replicas are seen within it)",
    )
    max_chain_depth: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="`trigger_workflow` hops a chain of workflows may take",
    )
    execution_retention_days: int = Field(
        default=30,
        ge=1,
        le=36500,
        description="days a finished execution and its step logs are kept after it finished "
        "(running and waiting ones are kept until they finish); keep it longer than the "
        "broker keeps `executions.requested`, or a redelivery older than it would run again",
    )
    execution_retention_batch_size: int = Field(
        default=500,
        ge=1,
        le=100_000,
        description="executions deleted per retention transaction (with their steps)",
    )
    execution_retention_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="how often retention looks for expired executions (at once again while "
        "batches come back full)",
    )
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    teams: TeamsSettings = Field(default_factory=TeamsSettings)
    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    hubspot: HubSpotSettings = Field(default_factory=HubSpotSettings)

    def consumer_groups(self, topics: Topics) -> dict[str, list[str]]:
        """The executor's consumer groups and the topic each reads."""
        return {
            self.consumer_group: [topics.executions_requested],
            self.exit_consumer_group: [topics.events_normalized],
        }

    @property
    def lease_owner(self) -> str:
        return self.replica_id or f"{socket.gethostname()}-{os.getpid()}"

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            wait_initial_seconds=self.action_retry_wait_initial_seconds,
            wait_max_seconds=self.action_retry_wait_max_seconds,
            inline_max_seconds=self.inline_wait_max_seconds,
            max_retry_after_seconds=self.max_retry_after_seconds,
        )
