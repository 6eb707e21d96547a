"""``revenue.daily_summary``: one per tenant per local day, with the day's revenue totals. Pure.

Rules, in one place:

- Revenue-bearing events are those of the types in a setting (default ``private_offer.accepted``,
  ``contract.created``, ``contract.renewed``); each counts once (by event id), and its
  ``data.value`` adds to the value when it is a number (a deal reported as both an accepted offer
  and a created contract counts under both types: ``byType`` tells them apart).
- An event belongs to the tenant-local day of its ``time``; one that arrives after that day's
  summary went out counts in the next summary still to come, if it is at most a few days late
  (a setting; default 2) — older ones are history read again (a new consumer group) and are not
  counted. Every event counts at most once.
- The summary of day D is due on D + 1 at the configured local time (default 00:05), in the
  tenant's time zone. After downtime, only the latest due summary is emitted, late, and it
  covers every day since the last one (``periodStart`` to ``date``): never a burst.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from services.scheduler.domain.clock import iso_date, local_date, local_instant, zone
from services.scheduler.domain.cron import SOURCE
from shared.contracts import CloudEvent, TriggerType

DEFAULT_REVENUE_TYPES: tuple[TriggerType, ...] = (
    "private_offer.accepted",
    "contract.created",
    "contract.renewed",
)

_REVENUE_EVENT_NAMESPACE = uuid.UUID("51e7c2a9-0d3b-4f68-b1c4-8a2e6f9d3b07")


@dataclass(frozen=True, slots=True)
class RevenueObservation:
    """One revenue-bearing event: the tenant-local day it happened on and its value, if any."""

    tenant_id: str
    event_id: str
    event_type: str
    day: date
    value: int | float | None


@dataclass(frozen=True, slots=True)
class TenantClock:
    """A tenant's time zone as the scheduler applies it, and its next daily summary: the one of
    ``summary_day``, due at ``summary_at``."""

    tenant_id: str
    timezone: str
    summary_day: date
    summary_at: datetime


@dataclass(frozen=True, slots=True)
class TypeTotal:
    """One event type's share of a summary: how many events, and the sum of their values."""

    event_type: str
    count: int
    value: Decimal


@dataclass(frozen=True, slots=True)
class SummaryDue:
    """The summary a due tenant clock emits now: of ``day``, covering ``period_start`` to it."""

    clock: TenantClock
    day: date
    period_start: date
    late: bool


def revenue_observation(
    event: CloudEvent, *, timezone: str, types: Iterable[str]
) -> RevenueObservation | None:
    if event.source == SOURCE or event.type not in types:
        return None
    value = event.data.get("value")
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
    return RevenueObservation(
        tenant_id=event.tenantid,
        event_id=event.id,
        event_type=event.type,
        day=local_date(event.time, zone(timezone)),
        value=number,
    )


def first_clock(tenant_id: str, timezone: str, *, now: datetime, at: time) -> TenantClock:
    """A tenant seen for the first time: its first summary is of today."""
    today = local_date(now, zone(timezone))
    return TenantClock(tenant_id, timezone, today, _due(today, at, timezone))


def rezoned(clock: TenantClock, timezone: str, *, at: time) -> TenantClock:
    """The same next summary, due at the configured time in the tenant's new zone."""
    return TenantClock(
        clock.tenant_id, timezone, clock.summary_day, _due(clock.summary_day, at, timezone)
    )


def _due(day: date, at: time, timezone: str) -> datetime:
    return local_instant(day + timedelta(days=1), at, zone(timezone))


def summary_due(clock: TenantClock, *, now: datetime, at: time) -> SummaryDue:
    """The latest day whose summary is due at ``now`` (never before ``clock.summary_day``)."""
    in_zone = zone(clock.timezone)
    day = local_date(now, in_zone) - timedelta(days=1)
    if _due(day, at, clock.timezone) > now:
        day -= timedelta(days=1)
    day = max(day, clock.summary_day)
    emitted_on_time = local_date(now, in_zone) <= day + timedelta(days=1)
    return SummaryDue(
        clock, day, clock.summary_day, late=day > clock.summary_day or not emitted_on_time
    )


def after(due: SummaryDue, *, at: time) -> TenantClock:
    """The tenant's clock once ``due`` was emitted: next, the day after."""
    day = due.day + timedelta(days=1)
    return TenantClock(
        due.clock.tenant_id, due.clock.timezone, day, _due(day, at, due.clock.timezone)
    )


def revenue_event_id(tenant_id: str, day: date) -> str:
    name = f"{tenant_id}\x1frevenue:daily_summary:{day.isoformat()}"
    return f"rev_{uuid.uuid5(_REVENUE_EVENT_NAMESPACE, name).hex}"


def summary_event(due: SummaryDue, totals: Iterable[TypeTotal], *, at: time) -> CloudEvent:
    by_type: dict[str, dict[str, Any]] = {}
    count = 0
    value = Decimal(0)
    for total in totals:
        by_type[total.event_type] = {"count": total.count, "value": _plain(total.value)}
        count += total.count
        value += total.value
    tenant = due.clock.tenant_id
    return CloudEvent(
        id=revenue_event_id(tenant, due.day),
        source=SOURCE,
        type="revenue.daily_summary",
        time=_due(due.day, at, due.clock.timezone),
        tenantid=tenant,
        data={
            "date": iso_date(due.day),
            "periodStart": iso_date(due.period_start),
            "timezone": due.clock.timezone,
            "count": count,
            "value": _plain(value),
            "byType": by_type,
            "late": due.late,
        },
    )


def _plain(value: Decimal) -> int | float:
    """A JSON number: whole values as integers."""
    return int(value) if value == value.to_integral_value() else float(value)
