"""The scheduler's handlers: plain async functions over the Protocols their adapters implement.

One module per kind of work: ``cron`` (schedules from the changelog), ``timers`` (parked
executions), ``contracts`` (the projection and its marks, and the revenue ledger it feeds),
``revenue`` (tenant clocks and daily summaries).
"""

from services.scheduler.handlers.contracts import (
    ContractStore,
    DueContracts,
    LearnedContract,
    RevenueLedger,
    fire_due_contracts,
    learn_events,
    local_todays,
)
from services.scheduler.handlers.cron import (
    DueSchedules,
    ScheduleStore,
    fire_due_schedules,
    learn_workflow_changes,
)
from services.scheduler.handlers.ports import EventPublisher, TenantZones
from services.scheduler.handlers.revenue import (
    DueSummaries,
    TenantClockStore,
    fire_due_summaries,
    sync_tenant_clocks,
)
from services.scheduler.handlers.timers import (
    RequestPublisher,
    TimerStore,
    fire_due_timers,
    store_timers,
)

__all__ = [
    "ContractStore",
    "DueContracts",
    "DueSchedules",
    "DueSummaries",
    "EventPublisher",
    "LearnedContract",
    "RequestPublisher",
    "RevenueLedger",
    "ScheduleStore",
    "TenantClockStore",
    "TenantZones",
    "TimerStore",
    "fire_due_contracts",
    "fire_due_schedules",
    "fire_due_summaries",
    "fire_due_timers",
    "learn_events",
    "learn_workflow_changes",
    "local_todays",
    "store_timers",
    "sync_tenant_clocks",
]
