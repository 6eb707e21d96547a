"""The scheduler's composition root: builds the adapters, wires the handlers, runs the lifecycle."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
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
from services.scheduler.adapters.ticks import TickLoop
from services.scheduler.domain import Clock, marks_of, system_clock
from services.scheduler.settings import SchedulerSettings
from shared.clients import Clients, open_clients
from shared.contracts import Topics
from shared.kafka import ConsumerLoop, make_consumer
from shared.lifecycle import Service


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
        settings = self.settings
        pool = self._clients.pool
        grace = settings.shutdown_grace_seconds
        schedules = PostgresScheduleStore(pool, changelog_topic=self.topics.workflows_changelog)
        timers = PostgresTimerStore(pool)
        contracts = PostgresContractStore(pool)
        revenue = PostgresRevenue(pool, late_days=settings.revenue_late_days)
        zones = PostgresTenantZones(pool)

        fire_timers = timer_job(
            timers,
            self.requests,
            self.clock,
            batch_size=settings.timer_batch_size,
            max_sleep=settings.timer_max_sleep_seconds,
        )
        timer_loop = TickLoop(
            [("timers", fire_timers)],
            retry_seconds=settings.timer_max_sleep_seconds,
            name="timers",
            grace_seconds=grace,
        )

        def timer_stored(due_at: datetime) -> None:
            timer_loop.run_soon(fire_timers, within=(due_at - self.clock()).total_seconds())

        at = settings.daily_summary_time
        time_events = TickLoop(
            [
                (
                    "cron",
                    cron_job(
                        schedules,
                        self.events,
                        self.clock,
                        batch_size=settings.fire_batch_size,
                        misfire_grace=timedelta(seconds=settings.cron_misfire_grace_seconds),
                        every=settings.tick_seconds,
                    ),
                ),
                (
                    "tenant clocks",
                    tenant_clock_job(
                        revenue, zones, self.clock, at=at, every=settings.contract_scan_seconds
                    ),
                ),
                (
                    "contracts",
                    contract_job(
                        contracts,
                        self.events,
                        zones,
                        self.clock,
                        marks=self.marks,
                        batch_size=settings.contract_batch_size,
                        every=settings.contract_scan_seconds,
                    ),
                ),
                (
                    "daily summaries",
                    summary_job(
                        revenue,
                        self.events,
                        self.clock,
                        at=at,
                        batch_size=settings.contract_batch_size,
                        retention_days=settings.revenue_retention_days,
                        every=settings.contract_scan_seconds,
                    ),
                ),
                ("gauges", gauge_job(pool, every=settings.gauge_seconds)),
            ],
            retry_seconds=settings.tick_seconds,
            name="time events",
            grace_seconds=grace,
        )

        consumers = [
            ChangelogReader(
                self._consumer(self.topics.workflows_changelog, settings.consumer_group),
                changelog_record_handler(schedules, self.clock),
                self._progress,
                clock=self.clock,
                check_seconds=settings.changelog_check_seconds,
                grace_seconds=grace,
            ),
            ConsumerLoop(
                self._consumer(self.topics.events_normalized, settings.events_consumer_group),
                event_record_handler(
                    contracts=contracts,
                    revenue=revenue,
                    zones=zones,
                    clock=self.clock,
                    marks=self.marks,
                    revenue_types=settings.revenue_event_types,
                ),
                name="events.normalized",
                grace_seconds=grace,
            ),
            ConsumerLoop(
                self._consumer(self.topics.executions_deferred, settings.timers_consumer_group),
                deferred_record_handler(timers, self.dead_letters, timer_stored),
                name="executions.deferred",
                grace_seconds=grace,
            ),
        ]
        # The loops first: timers stored before a restart fire on time, whatever the consumers'
        # start-up costs (each start waits for its group coordinator, about a second here).
        self.run_in_background(timer_loop, stack)
        self.run_in_background(time_events, stack)
        for consumer in consumers:
            stack.push_async_callback(consumer.stop)  # safe before start: closes what opened
        await asyncio.gather(*(consumer.start() for consumer in consumers))
        for consumer in consumers:
            self.spawn(consumer.run(), name=consumer.name)

    def _consumer(self, topic: str, group: str) -> AIOKafkaConsumer:
        return make_consumer(self.settings.kafka, topic, group_id=group, client_id=self.name)
