"""Durable timers: store parked executions, hand the due ones back to the executor."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Protocol

from services.scheduler.domain import Timer, latest_per_timer


class TimerStore(Protocol):
    async def save(self, timers: Sequence[Timer]) -> None:
        """Store each timer, replacing a stored one of the same id. Returns once durable."""

    def claim_due(self, now: datetime, limit: int) -> AbstractAsyncContextManager[Sequence[Timer]]:
        """Claim and remove up to ``limit`` timers due at ``now``, earliest first, skipping those
        another claim holds. The removal is kept only if the context ends without error."""

    async def next_due_after(self, now: datetime) -> datetime | None:
        """The earliest due time of a stored timer after ``now``, if any."""


class RequestPublisher(Protocol):
    async def publish_requests(self, timers: Sequence[Timer]) -> None:
        """Publish each timer's request on ``executions.requested`` (keyed by workflow id) and
        return once the broker acknowledged every one."""


async def store_timers(store: TimerStore, timers: Sequence[Timer]) -> datetime | None:
    """Store ``timers`` (the last one per id wins); returns the earliest due time among them."""
    latest = latest_per_timer(timers)
    if not latest:
        return None
    await store.save(latest)
    return min(timer.due_at for timer in latest)


async def fire_due_timers(
    store: TimerStore, publisher: RequestPublisher, *, now: datetime, limit: int
) -> list[Timer]:
    """Hand back every timer due at ``now`` (up to ``limit``), in due order.

    The requests are acknowledged by the broker before the timers are removed, so a crash in
    between fires them again with the same execution ids (the executor dedupes).
    """
    async with store.claim_due(now, limit) as due:
        timers = sorted(due, key=lambda timer: timer.due_at)
        if timers:
            await publisher.publish_requests(timers)
    return timers
