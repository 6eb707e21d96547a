"""The scheduler's rules, pure: cron slots, contract marks, daily revenue summaries, timers.

One module per kind of time event; ``clock`` holds the calendar rules they share.
"""

from services.scheduler.domain.clock import Clock, system_clock
from services.scheduler.domain.contracts import (
    EXPIRED,
    ContractFiring,
    ContractObservation,
    ContractRejection,
    DueContract,
    arm,
    contract_event_id,
    fire_contract,
    marks_of,
    observe,
)
from services.scheduler.domain.cron import (
    SOURCE,
    CronFiring,
    CronSchedule,
    CronSpec,
    ScheduleRecord,
    cron_event,
    cron_event_id,
    fire,
    latest_per_workflow,
    next_fire_after,
    schedule_record,
)
from services.scheduler.domain.revenue import (
    DEFAULT_REVENUE_TYPES,
    RevenueObservation,
    SummaryDue,
    TenantClock,
    TypeTotal,
    revenue_observation,
    summary_due,
    summary_event,
)
from services.scheduler.domain.timers import Timer, latest_per_timer, timer_from

__all__ = [
    "DEFAULT_REVENUE_TYPES",
    "EXPIRED",
    "SOURCE",
    "Clock",
    "ContractFiring",
    "ContractObservation",
    "ContractRejection",
    "CronFiring",
    "CronSchedule",
    "CronSpec",
    "DueContract",
    "RevenueObservation",
    "ScheduleRecord",
    "SummaryDue",
    "TenantClock",
    "Timer",
    "TypeTotal",
    "arm",
    "contract_event_id",
    "cron_event",
    "cron_event_id",
    "fire",
    "fire_contract",
    "latest_per_timer",
    "latest_per_workflow",
    "marks_of",
    "next_fire_after",
    "observe",
    "revenue_observation",
    "schedule_record",
    "summary_due",
    "summary_event",
    "system_clock",
    "timer_from",
]
