"""The scheduler's composition root: builds the adapters, wires the handlers, runs the lifecycle."""

from __future__ import annotations

from contextlib import AsyncExitStack

from services.scheduler.adapters.kafka import KafkaEventPublisher, changelog_record_handler
from services.scheduler.adapters.postgres import PostgresScheduleStore, migrate
from services.scheduler.adapters.ticks import TickLoop, cron_job
from services.scheduler.domain import Clock, system_clock
from services.scheduler.settings import SchedulerSettings
from shared.clients import open_clients
from shared.contracts import Topics
from shared.kafka import ConsumerLoop, make_consumer
from shared.kafka.lag import export_lag
from shared.lifecycle import Service


class ScheduleService(Service):
    """Learns cron schedules from ``workflows.changelog`` and fires their slots on time.

    Any number of replicas may run against one database: each due slot is fired by exactly one
    of them. ``clock`` decides when a slot is due; tests pass a clock they move by hand.
    """

    name = "scheduler"

    def __init__(self, settings: SchedulerSettings, *, clock: Clock = system_clock) -> None:
        super().__init__(host=settings.host, port=settings.port)
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix)
        self.clock = clock
        self.publisher = KafkaEventPublisher(self.topics)
        self._store: PostgresScheduleStore | None = None

    async def connect(self, stack: AsyncExitStack) -> None:
        clients = await open_clients(
            stack,
            self.settings,
            name=self.name,
            topics=[self.topics.workflows_changelog, self.topics.events_normalized],
            migrate=migrate,
        )
        self._store = PostgresScheduleStore(clients.pool)
        self.publisher.producer = clients.producer
        self.readiness_checks = clients.readiness_checks

    async def begin(self, stack: AsyncExitStack) -> None:
        if self._store is None:
            raise RuntimeError("begin() before connect()")
        consumer = make_consumer(
            self.settings.kafka,
            self.topics.workflows_changelog,
            group_id=self.settings.consumer_group,
            client_id=self.name,
        )
        changelog = ConsumerLoop(
            consumer,
            changelog_record_handler(self._store, self.clock),
            name="workflows.changelog",
            grace_seconds=self.settings.shutdown_grace_seconds,
        )
        await changelog.start()
        self.run_in_background(changelog, stack)
        await export_lag(
            self,
            stack,
            self.settings.kafka,
            {self.settings.consumer_group: [self.topics.workflows_changelog]},
        )

        ticks = TickLoop(
            [
                cron_job(
                    self._store,
                    self.publisher,
                    self.clock,
                    batch_size=self.settings.fire_batch_size,
                )
            ],
            interval=self.settings.tick_seconds,
            grace_seconds=self.settings.shutdown_grace_seconds,
        )
        self.run_in_background(ticks, stack)
