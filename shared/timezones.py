"""IANA time zone names: one rule for every place that accepts one (workflow schedules, tenant
settings). Pure."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_TIMEZONE_LENGTH = 64


def valid_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone this machine knows; raises ``ValueError`` otherwise."""
    shown = name[:MAX_TIMEZONE_LENGTH]
    if not name or len(name) > MAX_TIMEZONE_LENGTH:
        raise ValueError(f"unknown IANA time zone {shown!r}")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {shown!r}") from None
    return name
