"""The tick loop: runs each kind of due work when it says it is next due."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import Histogram

from shared.lifecycle import BackgroundLoop, is_connection_error

log = logging.getLogger(__name__)

TICK_SECONDS = Histogram(
    "scheduler_tick_duration_seconds",
    "Time one run of a job took: claiming, publishing and recording the due work.",
    ["job"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

TickJob = Callable[[], Awaitable[float]]
"""One kind of due work (cron slots, timers, contract marks, summaries): fire what is due now and
return the seconds until it should run again (0: more is due at once, a full batch)."""


class TickLoop(BackgroundLoop):
    """Runs every job when it is due, sleeping until the earliest one is, until stopped.

    Each job says when it is next due; ``run_soon`` brings one forward (a timer stored with an
    earlier due time) and ends the sleep. A job failing because Kafka or PostgreSQL is
    unreachable runs again after ``retry_seconds`` (its claim was rolled back, so its work is
    still due); any other failure ends the loop, and with it the service. ``stop()`` lets the
    run in flight finish within ``grace_seconds`` (``BackgroundLoop``).
    """

    def __init__(
        self,
        jobs: Sequence[tuple[str, TickJob]],
        *,
        retry_seconds: float,
        name: str = "tick loop",
        grace_seconds: float = 20.0,
    ) -> None:
        super().__init__(name=name, grace_seconds=grace_seconds)
        self._names = [job_name for job_name, _ in jobs]
        self._jobs = [job for _, job in jobs]
        self._retry_seconds = retry_seconds
        self._due = [0.0] * len(self._jobs)
        self._requested = [math.inf] * len(self._jobs)

    def run_soon(self, job: TickJob, *, within: float) -> None:
        """Run ``job`` within ``within`` seconds at the latest, even if it asked for later."""
        index = self._jobs.index(job)
        self._requested[index] = min(self._requested[index], time.monotonic() + max(within, 0))
        self.wake()

    def _next_run(self, index: int) -> float:
        return min(self._due[index], self._requested[index])

    async def iteration(self) -> None:
        for index, job in enumerate(self._jobs):
            if self._next_run(index) > time.monotonic():
                continue
            # A request made while the job runs must survive it: it may be for work stored since.
            self._requested[index] = math.inf
            self._due[index] = time.monotonic() + await self._run(index, job)
        wait = min(self._next_run(index) for index in range(len(self._jobs))) - time.monotonic()
        if wait > 0:
            await self.pause(wait)

    async def _run(self, index: int, job: TickJob) -> float:
        started = time.perf_counter()
        try:
            return max(await job(), 0.0)
        except Exception as error:
            if not is_connection_error(error):
                raise
            log.warning(
                "job failed; retrying",
                extra={"job": self._names[index], "error": repr(error)},
            )
            return self._retry_seconds
        finally:
            TICK_SECONDS.labels(self._names[index]).observe(time.perf_counter() - started)
