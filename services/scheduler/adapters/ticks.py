"""The tick loop that fires due work on an interval, and the cron job it runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Histogram

from services.scheduler.domain import Clock
from services.scheduler.handlers import EventPublisher, ScheduleStore, fire_due_schedules
from shared.lifecycle import BackgroundLoop, is_connection_error
from shared.observability import instrumented

log = logging.getLogger(__name__)

CRON_EVENTS_FIRED = Counter(
    "scheduler_cron_events_fired_total",
    "schedule.cron events acknowledged by the broker (a slot re-fired after a crash counts again).",
)
TICK_SECONDS = Histogram(
    "scheduler_tick_duration_seconds",
    "Time one tick took: claiming, publishing and advancing the due work.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CRON_LATENESS_SECONDS = Histogram(
    "scheduler_cron_lateness_seconds",
    "How long after its scheduled time a cron slot was fired.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 86400),
)

TickJob = Callable[[], Awaitable[bool]]
"""One kind of due work (cron slots now; timers and queued runs later): fire what is due and
return whether more may be due right away (a full batch)."""


def cron_job(
    store: ScheduleStore, publisher: EventPublisher, clock: Clock, *, batch_size: int
) -> TickJob:
    fire = instrumented("scheduler.fire_due_schedules")(fire_due_schedules)

    async def fire_cron_slots() -> bool:
        firings = await fire(store, publisher, now=clock(), limit=batch_size)
        CRON_EVENTS_FIRED.inc(len(firings))
        for firing in firings:
            CRON_LATENESS_SECONDS.observe(firing.lateness.total_seconds())
        return len(firings) == batch_size

    return fire_cron_slots


class TickLoop(BackgroundLoop):
    """Runs every job once per tick, every ``interval`` seconds, until stopped.

    A job that reports a full batch is run again without waiting. A job failing because Kafka or
    PostgreSQL is unreachable is retried next tick (its claim was rolled back, so its work is
    still due); any other failure ends the loop, and with it the service. ``stop()`` lets the
    tick in flight finish within ``grace_seconds`` (``BackgroundLoop``).
    """

    def __init__(
        self, jobs: list[TickJob], *, interval: float, grace_seconds: float = 20.0
    ) -> None:
        super().__init__(name="tick loop", grace_seconds=grace_seconds)
        self._jobs = jobs
        self._interval = interval

    async def iteration(self) -> None:
        if not await self._tick():
            await self.pause(self._interval)

    async def _tick(self) -> bool:
        started = time.perf_counter()
        more_due = False
        try:
            for job in self._jobs:
                try:
                    more_due = await job() or more_due
                except Exception as error:
                    if not is_connection_error(error):
                        raise
                    log.warning("tick failed; retrying next tick", extra={"error": repr(error)})
        finally:
            TICK_SECONDS.observe(time.perf_counter() - started)
        return more_due
