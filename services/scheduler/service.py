"""The scheduler's composition root: builds the adapters, wires the handlers, runs the lifecycle."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiokafka import AIOKafkaConsumer

from services.scheduler.adapters.jobs import (
    contract_job,
    cron_job,
    gauge_job,
    summary_job,
    tenant_clock_job,
    timer_job,
)
from services.scheduler.adapters.kafka import (
    ChangelogReader,
    KafkaDeadLetters,
    KafkaEventPublisher,
    KafkaRequestPublisher,
    changelog_record_handler,
    deferred_record_handler,
    event_record_handler,
)
from services.scheduler.adapters.postgres import (
    PostgresChangelogProgress,
    PostgresContractStore,
    PostgresRevenue,
    PostgresScheduleStore,
    PostgresTenantZones,
    PostgresTimerStore,
    migrate,
)
from services.scheduler.adapters.ticks import TickJob, TickLoop
from services.scheduler.domain import Clock, marks_of, system_clock
from services.scheduler.settings import SchedulerSettings
from shared.clients import Clients, open_clients
from shared.contracts import Topics
from shared.kafka import ConsumerLoop, make_consumer
from shared.kafka.lag import export_lag
from shared.lifecycle import Service
from shared.postgres import Pool


@dataclass(frozen=True, slots=True)
class _Stores:
    schedules: PostgresScheduleStore
    timers: PostgresTimerStore
    contracts: PostgresContractStore
    revenue: PostgresRevenue
    zones: PostgresTenantZones
    progress: PostgresChangelogProgress
    pool: Pool


class ScheduleService(Service):
    """Fires time events and durable timers on time.

    - cron slots of the ``schedule.cron`` workflows it learns from ``workflows.changelog``;
    - ``contract.expiring`` / ``contract.expired`` from the contracts it learns from
      ``events.normalized``, and each tenant's ``revenue.daily_summary``;
    - the executions parked on ``executions.deferred``, handed back on ``executions.requested``.

    Any number of replicas may run against one database: each due item is claimed by exactly
    one of them, and every event id is deterministic. ``clock`` decides what is due; tests pass
    a clock they move by hand.
    """

    name = "scheduler"

    def __init__(self, settings: SchedulerSettings, *, clock: Clock = system_clock) -> None:
        super().__init__(host=settings.host, port=settings.port)
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix)
        self.clock = clock
        self.marks = marks_of(settings.contract_thresholds)
        self.events = KafkaEventPublisher(self.topics)
        self.requests = KafkaRequestPublisher(self.topics)
        self.dead_letters = KafkaDeadLetters(self.topics)
        self._clients: Clients | None = None
        self._progress: PostgresChangelogProgress | None = None

    async def connect(self, stack: AsyncExitStack) -> None:
        clients = await open_clients(
            stack,
            self.settings,
            name=self.name,
            topics=[
                self.topics.workflows_changelog,
                self.topics.events_normalized,
                self.topics.executions_deferred,
                self.topics.executions_requested,
                self.topics.executions_deadletter,
            ],
            migrate=migrate,
        )
        for producing in (self.events, self.requests, self.dead_letters):
            producing.producer = clients.producer
        progress = PostgresChangelogProgress(clients.pool, topic=self.topics.workflows_changelog)
        await progress.add_partitions(
            await clients.producer.partitions_for(self.topics.workflows_changelog)
        )
        self._progress = progress
        self._clients = clients
        self.readiness_checks = clients.readiness_checks

    async def begin(self, stack: AsyncExitStack) -> None:
        if self._clients is None or self._progress is None:
            raise RuntimeError("begin() before connect()")
        pool = self._clients.pool
        stores = _Stores(
            schedules=PostgresScheduleStore(pool, changelog_topic=self.topics.workflows_changelog),
            timers=PostgresTimerStore(pool),
            contracts=PostgresContractStore(pool),
            revenue=PostgresRevenue(pool, late_days=self.settings.revenue_late_days),
            zones=PostgresTenantZones(pool),
            progress=self._progress,
            pool=pool,
        )
        timer_loop, timer_stored = self._timer_loop(stores)
        consumers = self._consumers(stores, timer_stored)
        # The loops first: timers stored before a restart fire on time, whatever the consumers'
        # start-up costs (each start waits for its group coordinator, about a second here).
        self.run_in_background(timer_loop, stack)
        self.run_in_background(self._time_event_loop(stores), stack)
        for consumer in consumers:
            stack.push_async_callback(consumer.stop)  # safe before start: closes what opened
        await asyncio.gather(*(consumer.start() for consumer in consumers))
        for consumer in consumers:
            self.spawn(consumer.run(), name=consumer.name)
        await export_lag(
            self, stack, self.settings.kafka, self.settings.consumer_groups(self.topics)
        )

    def _timer_loop(self, stores: _Stores) -> tuple[TickLoop, Callable[[datetime], None]]:
        """The timers' own loop, and what the deferred consumer calls with each batch's earliest
        due time (so that the loop wakes for it)."""
        fire_timers = timer_job(
            stores.timers,
            self.requests,
            self.clock,
            batch_size=self.settings.timer_batch_size,
            max_sleep=self.settings.timer_max_sleep_seconds,
        )
        loop = TickLoop(
            [("timers", fire_timers)],
            retry_seconds=self.settings.timer_max_sleep_seconds,
            name="timers",
            grace_seconds=self.settings.shutdown_grace_seconds,
        )

        def stored(due_at: datetime) -> None:
            loop.run_soon(fire_timers, within=(due_at - self.clock()).total_seconds())

        return loop, stored

    def _time_event_loop(self, stores: _Stores) -> TickLoop:
        """Cron slots, tenant clocks, contract marks, daily summaries and gauges, in that order."""
        settings = self.settings
        at = settings.daily_summary_time
        scan = settings.contract_scan_seconds
        jobs: list[tuple[str, TickJob]] = [
            (
                "cron",
                cron_job(
                    stores.schedules,
                    self.events,
                    self.clock,
                    batch_size=settings.fire_batch_size,
                    misfire_grace=timedelta(seconds=settings.cron_misfire_grace_seconds),
                    every=settings.tick_seconds,
                ),
            ),
            (
                "tenant clocks",
                tenant_clock_job(stores.revenue, stores.zones, self.clock, at=at, every=scan),
            ),
            (
                "contracts",
                contract_job(
                    stores.contracts,
                    self.events,
                    stores.zones,
                    self.clock,
                    marks=self.marks,
                    batch_size=settings.contract_batch_size,
                    every=scan,
                ),
            ),
            (
                "daily summaries",
                summary_job(
                    stores.revenue,
                    self.events,
                    self.clock,
                    at=at,
                    batch_size=settings.contract_batch_size,
                    retention_days=settings.revenue_retention_days,
                    every=scan,
                ),
            ),
            ("gauges", gauge_job(stores.pool, every=settings.gauge_seconds)),
        ]
        return TickLoop(
            jobs,
            retry_seconds=settings.tick_seconds,
            name="time events",
            grace_seconds=settings.shutdown_grace_seconds,
        )

    def _consumers(
        self, stores: _Stores, timer_stored: Callable[[datetime], None]
    ) -> list[ConsumerLoop]:
        settings = self.settings
        grace = settings.shutdown_grace_seconds
        return [
            ChangelogReader(
                self._consumer(self.topics.workflows_changelog, settings.consumer_group),
                changelog_record_handler(stores.schedules, self.clock),
                stores.progress,
                clock=self.clock,
                check_seconds=settings.changelog_check_seconds,
                grace_seconds=grace,
            ),
            ConsumerLoop(
                self._consumer(self.topics.events_normalized, settings.events_consumer_group),
                event_record_handler(
                    contracts=stores.contracts,
                    revenue=stores.revenue,
                    zones=stores.zones,
                    clock=self.clock,
                    marks=self.marks,
                    revenue_types=settings.revenue_event_types,
                ),
                name="events.normalized",
                grace_seconds=grace,
            ),
            ConsumerLoop(
                self._consumer(self.topics.executions_deferred, settings.timers_consumer_group),
                deferred_record_handler(stores.timers, self.dead_letters, timer_stored),
                name="executions.deferred",
                grace_seconds=grace,
            ),
        ]

    def _consumer(self, topic: str, group: str) -> AIOKafkaConsumer:
        return make_consumer(self.settings.kafka, topic, group_id=group, client_id=self.name)
