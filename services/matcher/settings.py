"""Matcher's own settings (prefix ``MATCHER_``) on top of the shared ones."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MatcherSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHER_", frozen=True, extra="ignore")

    port: int = Field(default=8082, ge=0, le=65535)
    app_id: str = Field(
        default="matcher",
        min_length=1,
        description="faust app id; the consumer group is the topic prefix followed by it",
    )
    max_events_in_flight: int = Field(
        default=1000,
        ge=1,
        description="events whose requests may await the broker's ack at once",
    )
    max_batch: int = Field(
        default=500,
        ge=1,
        description="events matched per batch; each batch first reads the changelog up to its end",
    )
    data_dir: Path | None = Field(
        default=None,
        description="faust's data directory; a temporary directory, removed at exit, when unset",
    )

    @property
    def consumer_group(self) -> str:
        return f"{self.kafka.topic_prefix}{self.app_id}"
