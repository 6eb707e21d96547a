"""The executor's own settings (prefix ``EXECUTOR_``), outbound HTTP (``WEBHOOK_``) and each
provider's endpoint and credentials under SPEC §6's unprefixed names.

Variables and defaults:

- ``EXECUTOR_PORT`` (8083), ``EXECUTOR_CONSUMER_GROUP`` (``executor``),
  ``EXECUTOR_MAX_POLL_RECORDS`` (20): records fetched per partition per batch; a smaller batch
  finishes sooner at shutdown.
- ``EXECUTOR_ACTION_ATTEMPTS`` (5), ``EXECUTOR_ACTION_RETRY_TIMEOUT_SECONDS`` (60),
  ``EXECUTOR_ACTION_RETRY_WAIT_INITIAL_SECONDS`` (0.5), ``EXECUTOR_ACTION_RETRY_WAIT_MAX_SECONDS``
  (10): how an action whose failure is transient is retried: exponential backoff from the
  initial wait up to the maximum, plus a random jitter of up to the initial wait (or the
  receiver's ``Retry-After``, capped at the maximum), bounded by both the number of attempts and
  the total time.
- ``WEBHOOK_SIGNING_SECRET``: the Standard Webhooks secret (``whsec_`` + base64) that signs every
  outbound webhook. The default, ``DEV_WEBHOOK_SIGNING_SECRET``, is public and only for local
  development; the service logs a warning while it is in use.
- ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` (false), ``WEBHOOK_TIMEOUT_SECONDS`` (10),
  ``WEBHOOK_RESPONSE_MAX_BYTES`` (262144): govern every outbound HTTP call, not only webhooks
  (call_api, Teams, Slack, Salesforce, HubSpot): whether loopback, private, link-local and
  other non-public addresses may be reached (only the local dev stack and tests allow it), the
  whole of one attempt from connect to last byte, and the most of an answer ever read.
- ``SLACK_*``, ``SMTP_*`` and ``EMAIL_FROM``, ``TEAMS_WEBHOOK_URL``, ``SALESFORCE_*``,
  ``HUBSPOT_*``: where each provider's actions go (SPEC §6). A provider whose credentials are
  not set fails its steps as ``not_configured``.
- ``EXECUTOR_MAX_CHAIN_DEPTH`` (16): how many ``trigger_workflow`` hops a chain may take.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from standardwebhooks import Webhook

from services.executor.domain import RetryPolicy
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
    consumer_group: str = "executor"
    max_poll_records: int = Field(default=20, ge=1)
    action_attempts: int = Field(default=5, ge=1)
    action_retry_timeout_seconds: float = Field(default=60.0, gt=0)
    action_retry_wait_initial_seconds: float = Field(default=0.5, ge=0)
    action_retry_wait_max_seconds: float = Field(default=10.0, ge=0)
    max_chain_depth: int = Field(
        default=16,
        ge=1,
        le=1000,
        description="`trigger_workflow` hops a chain of workflows may take",
    )
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    teams: TeamsSettings = Field(default_factory=TeamsSettings)
    salesforce: SalesforceSettings = Field(default_factory=SalesforceSettings)
    hubspot: HubSpotSettings = Field(default_factory=HubSpotSettings)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.action_attempts,
            timeout_seconds=self.action_retry_timeout_seconds,
            wait_initial_seconds=self.action_retry_wait_initial_seconds,
            wait_max_seconds=self.action_retry_wait_max_seconds,
        )
