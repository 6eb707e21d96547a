"""The scheduler's own settings (prefix ``SCHEDULER_``) on top of the shared ones."""

from __future__ import annotations

from datetime import time

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.scheduler.domain import DEFAULT_REVENUE_TYPES
from shared.contracts import Topics, TriggerType
from shared.settings import ServiceSettings


class SchedulerSettings(ServiceSettings):
    """How often each kind of due work is looked for, and the rules of the time events.

    A job that claims a full batch runs again at once; timers are woken for their own due time.
    """

    model_config = SettingsConfigDict(env_prefix="SCHEDULER_", frozen=True, extra="ignore")

    port: int = Field(default=8084, ge=0, le=65535)
    consumer_group: str = Field(
        default="scheduler",
        description="consumer group on workflows.changelog; `<group>-events` reads "
        "events.normalized and `<group>-timers` executions.deferred",
    )
    tick_seconds: float = Field(
        default=1.0, gt=0, description="how often due cron slots are looked for"
    )
    fire_batch_size: int = Field(default=100, ge=1, description="cron slots claimed at once")
    cron_misfire_grace_seconds: float = Field(
        default=60.0,
        ge=0,
        description="a cron slot fired later than this was missed: catchUp decides (once/skip)",
    )
    changelog_check_seconds: float = Field(
        default=0.5,
        gt=0,
        description="how often the changelog reader confirms it has read up to now (a slot "
        "fires only after that)",
    )
    timer_batch_size: int = Field(default=500, ge=1, description="timers claimed at once")
    timer_max_sleep_seconds: float = Field(
        default=1.0,
        gt=0,
        description="longest the timer job sleeps without looking for timers other replicas stored",
    )
    contract_scan_seconds: float = Field(
        default=30.0,
        gt=0,
        description="how often contracts reaching a threshold (or expiring) are looked for",
    )
    contract_thresholds: tuple[int, ...] = Field(
        default=(90, 60, 30, 7, 1),
        min_length=1,
        description="days before a contract's end date that emit contract.expiring (JSON list)",
    )
    contract_batch_size: int = Field(default=500, ge=1, description="contracts claimed at once")
    daily_summary_time: time = Field(
        default=time(0, 5),
        description="tenant-local time (HH:MM) at which the previous day's "
        "revenue.daily_summary is emitted",
    )
    revenue_event_types: tuple[TriggerType, ...] = Field(
        default=DEFAULT_REVENUE_TYPES,
        description="event types whose data.value counts in revenue.daily_summary (JSON list)",
    )
    revenue_late_days: int = Field(
        default=2,
        ge=0,
        description="an event arriving after its day's summary counts in the next one if at "
        "most this many days late (older ones, a replay of history, are not counted)",
    )
    revenue_retention_days: int = Field(
        default=35,
        ge=1,
        description="days a counted revenue event is remembered, so that a redelivery is not "
        "counted again",
    )
    gauge_seconds: float = Field(
        default=60.0,
        gt=0,
        description="how often the pending-timers and contracts gauges are counted (exact counts)",
    )

    @field_validator("contract_thresholds")
    @classmethod
    def _thresholds(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(days < 0 or days > 3650 for days in value):
            raise ValueError("thresholds are days from 0 to 3650")
        return tuple(sorted(set(value), reverse=True))

    @property
    def events_consumer_group(self) -> str:
        return f"{self.consumer_group}-events"

    @property
    def timers_consumer_group(self) -> str:
        return f"{self.consumer_group}-timers"

    def consumer_groups(self, topics: Topics) -> dict[str, list[str]]:
        """The scheduler's consumer groups and the topic each reads."""
        return {
            self.consumer_group: [topics.workflows_changelog],
            self.events_consumer_group: [topics.events_normalized],
            self.timers_consumer_group: [topics.executions_deferred],
        }
