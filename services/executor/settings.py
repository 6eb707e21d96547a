"""The executor's own settings (prefix ``EXECUTOR_``) and the outbound webhook settings (``WEBHOOK_``).

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
- ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` (false): allow webhooks to loopback, private, link-local and
  other non-public addresses. Only the local dev stack and tests set it.
- ``WEBHOOK_TIMEOUT_SECONDS`` (10): the whole of one delivery attempt, connect to last byte.
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

    signing_secret: SecretStr = SecretStr(DEV_WEBHOOK_SIGNING_SECRET)
    allow_private_networks: bool = False
    timeout_seconds: float = Field(default=10.0, gt=0)

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
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            attempts=self.action_attempts,
            timeout_seconds=self.action_retry_timeout_seconds,
            wait_initial_seconds=self.action_retry_wait_initial_seconds,
            wait_max_seconds=self.action_retry_wait_max_seconds,
        )
