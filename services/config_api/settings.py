"""The config API's own settings (prefix ``API_``) on top of the shared ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ConfigApiSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="API_", frozen=True, extra="ignore")

    port: int = Field(default=8080, ge=0, le=65535)
    max_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="largest request body; larger gets 413"
    )
    outbox_poll_seconds: float = Field(
        default=0.5,
        gt=0,
        description="how often the outbox relay looks for other replicas' changes",
    )
    outbox_batch_size: int = Field(default=500, ge=1, description="records relayed per batch")
    changelog_publish_timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        description="longest a save waits for its changelog record's ack before it answers "
        "and leaves the record to the outbox relay",
    )
    page_size_max: int = Field(default=200, ge=1, description="largest `limit` of a list")
    hooks_base_url: str = Field(
        default="http://127.0.0.1:8081",
        pattern=r"^https?://[^/?#]+$",
        description="scheme and host senders reach ingest at: the start of every workflow's "
        "inbound hook URL (…/v1/hooks/{tenant}/{token})",
    )
    run_data_max_bytes: int = Field(
        default=64 * 1024,
        ge=2,
        description="largest `data` of a manual run (`POST /api/workflows/{id}/run`), as JSON; "
        "larger gets 413",
    )
    allow_private_networks: bool = Field(
        default=False,
        validation_alias="WEBHOOK_ALLOW_PRIVATE_NETWORKS",
        description="accept workflows whose URLs are literal private, loopback or link-local "
        "addresses (the executor's setting of the same name; the dev stack and tests only)",
    )
