"""Instants and calendar days: the clock the scheduler reads, and a tenant's local dates. Pure.

Calendar rules, in one place:

- Calendar days are a tenant's local days: in UTC unless the tenant has a time zone.
- A local day starts at local midnight. A local time that does not exist (the spring-forward
  gap) is read with the offset before the change, so it lands that much later on the wall
  clock (02:30 on a day clocks jump from 02:00 to 03:00 is 03:30); a local time that happens
  twice (the fall-back overlap) is its first occurrence.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Clock = Callable[[], datetime]
"""Returns the current instant, timezone-aware."""


def system_clock() -> datetime:
    return datetime.now(UTC)


def zone(name: str | None) -> tzinfo:
    """The IANA zone ``name``; UTC when it is empty or unknown to this machine."""
    if not name:
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def local_date(instant: datetime, in_zone: tzinfo) -> date:
    """The calendar day ``instant`` falls on in ``in_zone``."""
    return instant.astimezone(in_zone).date()


def local_instant(day: date, at: time, in_zone: tzinfo) -> datetime:
    """The instant of wall-clock time ``at`` on ``day`` in ``in_zone``, in UTC (see the rules
    above for times that do not exist or happen twice)."""
    return datetime.combine(day, at, tzinfo=in_zone).astimezone(UTC)


def start_of_day(day: date, in_zone: tzinfo) -> datetime:
    return local_instant(day, time(0, 0), in_zone)


def iso_date(day: date) -> str:
    return day.isoformat()


def iso_instant(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")
