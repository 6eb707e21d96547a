"""The tick loop's jobs: each fires one kind of due work and says when it is next due."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import time, timedelta

from services.scheduler.adapters.metrics import (
    CONTRACTS_TRACKED,
    CRON_LATENESS_SECONDS,
    CRON_SLOTS_SKIPPED,
    TIME_EVENTS_EMITTED,
    TIMER_LATENESS_SECONDS,
    TIMERS_FIRED,
    TIMERS_PENDING,
)
from services.scheduler.adapters.postgres import gauges
from services.scheduler.adapters.ticks import TickJob
from services.scheduler.domain import Clock
from services.scheduler.handlers import (
    ContractStore,
    EventPublisher,
    RequestPublisher,
    ScheduleStore,
    TenantClockStore,
    TenantZones,
    TimerStore,
    fire_due_contracts,
    fire_due_schedules,
    fire_due_summaries,
    fire_due_timers,
    sync_tenant_clocks,
)
from shared.contracts import CloudEvent
from shared.observability import instrumented
from shared.postgres import Pool


def _emitted(events: Sequence[CloudEvent | None]) -> None:
    for event in events:
        if event is not None:
            TIME_EVENTS_EMITTED.labels(event.type).inc()


def cron_job(
    store: ScheduleStore,
    publisher: EventPublisher,
    clock: Clock,
    *,
    batch_size: int,
    misfire_grace: timedelta,
    every: float,
) -> TickJob:
    fire = instrumented("scheduler.fire_due_schedules")(fire_due_schedules)

    async def fire_cron_slots() -> float:
        firings = await fire(
            store, publisher, now=clock(), limit=batch_size, misfire_grace=misfire_grace
        )
        _emitted([firing.event for firing in firings])
        for firing in firings:
            CRON_LATENESS_SECONDS.observe(firing.lateness.total_seconds())
            if firing.event is None:
                CRON_SLOTS_SKIPPED.inc()
        return 0.0 if len(firings) == batch_size else every

    return fire_cron_slots


def timer_job(
    store: TimerStore,
    publisher: RequestPublisher,
    clock: Clock,
    *,
    batch_size: int,
    max_sleep: float,
) -> TickJob:
    """Fires due timers, then sleeps until the next stored one is due — at most ``max_sleep``, so
    that timers another replica stored (and would have fired, had it not died) are not missed.
    The deferred consumer brings the job forward for the timers it stores (``run_soon``)."""
    fire = instrumented("scheduler.fire_due_timers")(fire_due_timers)

    async def fire_timers() -> float:
        now = clock()
        firings = await fire(store, publisher, now=now, limit=batch_size)
        acknowledged = clock()
        TIMERS_FIRED.inc(len(firings))
        for timer in firings:
            late = max(acknowledged - timer.due_at, timedelta(0))
            TIMER_LATENESS_SECONDS.observe(late.total_seconds())
        if len(firings) == batch_size:
            return 0.0
        next_due = await store.next_due_after(now)
        if next_due is None:
            return max_sleep
        return min(max((next_due - clock()).total_seconds(), 0.0), max_sleep)

    return fire_timers


def contract_job(
    store: ContractStore,
    publisher: EventPublisher,
    zones: TenantZones,
    clock: Clock,
    *,
    marks: Sequence[int],
    batch_size: int,
    every: float,
) -> TickJob:
    fire = instrumented("scheduler.fire_due_contracts")(fire_due_contracts)

    async def fire_contract_marks() -> float:
        firings = await fire(store, publisher, zones, now=clock(), marks=marks, limit=batch_size)
        _emitted([firing.event for firing in firings])
        return 0.0 if len(firings) == batch_size else every

    return fire_contract_marks


def tenant_clock_job(
    store: TenantClockStore, zones: TenantZones, clock: Clock, *, at: time, every: float
) -> TickJob:
    """Re-reads the tenants' zones and gives new tenants their clock; runs before the contract
    and summary jobs in the loop, so they start with every zone known."""
    sync = instrumented("scheduler.sync_tenant_clocks")(sync_tenant_clocks)

    async def sync_clocks() -> float:
        await sync(store, zones, now=clock(), at=at)
        return every

    return sync_clocks


def summary_job(
    store: TenantClockStore,
    publisher: EventPublisher,
    clock: Clock,
    *,
    at: time,
    batch_size: int,
    retention_days: int,
    every: float,
) -> TickJob:
    fire = instrumented("scheduler.fire_due_summaries")(fire_due_summaries)

    async def fire_summaries() -> float:
        summaries = await fire(
            store,
            publisher,
            now=clock(),
            at=at,
            limit=batch_size,
            retention_days=retention_days,
        )
        TIME_EVENTS_EMITTED.labels("revenue.daily_summary").inc(len(summaries))
        return 0.0 if len(summaries) == batch_size else every

    return fire_summaries


def gauge_job(pool: Pool, *, every: float) -> TickJob:
    async def read_gauges() -> float:
        pending, tracked = await gauges(pool)
        TIMERS_PENDING.set(pending)
        CONTRACTS_TRACKED.set(tracked)
        return every

    return read_gauges
