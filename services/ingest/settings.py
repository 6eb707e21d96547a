"""Ingest's own settings (prefix ``INGEST_``) on top of the shared ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IngestSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INGEST_", frozen=True, extra="ignore")

    port: int = Field(default=8081, ge=0, le=65535)
    max_body_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest request body; larger gets 413"
    )
    max_batch_events: int = Field(
        default=500, ge=1, description="most events in one POST /v1/events"
    )
    consumer_group: str = Field(
        default="ingest", description="consumer group reading events.inbound"
    )
    public_base_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+$",
        description=(
            "scheme and host senders call ingest at (e.g. https://hooks.example.com) when a proxy "
            "sits in front; HubSpot signs that URL. Unset: the URL as the request arrived"
        ),
    )
    dedup_window_hours: float = Field(
        default=72,
        gt=0,
        description="how long a source event already published is recognised and not published again",
    )
    dedup_purge_interval_seconds: float = Field(
        default=300, gt=0, description="how often ids older than the dedup window are removed"
    )
