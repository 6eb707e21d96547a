"""The executor's own settings (prefix ``EXECUTOR_``) and the outbound webhook settings (``WEBHOOK_``).

Every variable, its default and its meaning is in ``docs/configuration.md`` (generated from the
field descriptions here). The webhook settings:

- ``WEBHOOK_SIGNING_SECRET``: the Standard Webhooks secret (``whsec_`` + base64) that signs every
  outbound webhook. The default, ``DEV_WEBHOOK_SIGNING_SECRET``, is public and only for local
  development; the service logs a warning while it is in use.
- ``WEBHOOK_ALLOW_PRIVATE_NETWORKS`` (false): allow webhooks to loopback, private, link-local and
  other non-public addresses. Only the local dev stack and tests set it.
- ``WEBHOOK_TIMEOUT_SECONDS`` (10): the whole of one delivery attempt, connect to last byte.
"""

from __future__ import annotations

import os
import socket

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
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)

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
