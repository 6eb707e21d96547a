"""Tenant clocks (zones and the next daily summary) and the ``revenue.daily_summary`` events."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import date, datetime, time
from typing import Protocol

from services.scheduler.domain import SummaryDue, TenantClock, TypeTotal, summary_due
from services.scheduler.domain.revenue import after, first_clock, rezoned, summary_event
from services.scheduler.handlers.ports import EventPublisher, TenantZones


class DueSummaries(Protocol):
    @property
    def clocks(self) -> Sequence[TenantClock]: ...

    async def totals(self, tenant_id: str, first_day: date, last_day: date) -> list[TypeTotal]:
        """The revenue counted in ``first_day`` to ``last_day`` (inclusive), per event type."""

    async def advance(self, clocks: Sequence[TenantClock], *, retention_days: int) -> None:
        """Store each clock's next summary and forget the tenant's revenue counted more than
        ``retention_days`` before that summary's day. Kept only if the claim ends cleanly."""


class TenantClockStore(Protocol):
    async def clocks(self) -> list[TenantClock]: ...

    async def save(self, clocks: Sequence[TenantClock]) -> None:
        """Add new tenants' clocks; move a known tenant's next summary to its new zone (unless
        that summary went out meanwhile)."""

    def claim_due(self, now: datetime, limit: int) -> AbstractAsyncContextManager[DueSummaries]:
        """Claim up to ``limit`` tenant clocks whose summary is due, skipping claimed ones."""


async def sync_tenant_clocks(
    store: TenantClockStore, zones: TenantZones, *, now: datetime, at: time
) -> int:
    """Give every tenant a clock in its current zone; returns how many were added or moved."""
    current = await zones.refresh()
    stored = {clock.tenant_id: clock for clock in await store.clocks()}
    changed: list[TenantClock] = []
    for tenant_id, timezone in current.items():
        clock = stored.get(tenant_id)
        if clock is None:
            changed.append(first_clock(tenant_id, timezone, now=now, at=at))
        elif clock.timezone != timezone:
            changed.append(rezoned(clock, timezone, at=at))
    if changed:
        await store.save(changed)
    return len(changed)


async def fire_due_summaries(
    store: TenantClockStore,
    publisher: EventPublisher,
    *,
    now: datetime,
    at: time,
    limit: int,
    retention_days: int,
) -> list[SummaryDue]:
    """Emit the daily summary of every tenant whose summary is due (up to ``limit`` tenants).

    Events are acknowledged before the clocks advance: a crash in between emits the same
    summaries again, with the same ids.
    """
    async with store.claim_due(now, limit) as due:
        summaries = [summary_due(clock, now=now, at=at) for clock in due.clocks]
        events = [
            summary_event(
                summary,
                await due.totals(summary.clock.tenant_id, summary.period_start, summary.day),
                at=at,
            )
            for summary in summaries
        ]
        if events:
            await publisher.publish(events)
            await due.advance(
                [after(summary, at=at) for summary in summaries], retention_days=retention_days
            )
    return summaries
