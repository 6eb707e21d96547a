"""The scheduler's own settings (prefix ``SCHEDULER_``) on top of the shared ones."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    """``tick_seconds`` bounds how late a slot fires when the scheduler is idle; a tick that
    claims a full batch of ``fire_batch_size`` due schedules is followed at once by another."""

    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", frozen=True, extra="ignore")

    port: int = Field(default=8084, ge=0, le=65535)
    consumer_group: str = "scheduler"
    tick_seconds: float = Field(default=1.0, gt=0)
    fire_batch_size: int = Field(default=100, ge=1)
