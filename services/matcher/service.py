"""Matcher's composition root: builds the adapters, wires the handler, runs the lifecycle."""

from __future__ import annotations

import tempfile
from contextlib import AsyncExitStack
from pathlib import Path

from services.matcher.adapters.changelog import ChangelogReader
from services.matcher.adapters.kafka import (
    EventStream,
    KafkaDeadLetters,
    KafkaExecutionSink,
    verify_copartitioned,
)
from services.matcher.adapters.postgres import PostgresEnrollments, migrate
from services.matcher.settings import MatcherSettings
from shared.clients import open_clients
from shared.contracts import Topics
from shared.kafka import make_consumer
from shared.kafka.lag import export_lag
from shared.lifecycle import Service


class MatcherService(Service):
    name = "matcher"

    def __init__(self, settings: MatcherSettings) -> None:
        super().__init__(host=settings.host, port=settings.port)
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix)
        self.workflows: ChangelogReader | None = None
        self.stream: EventStream | None = None
        self._sink: KafkaExecutionSink | None = None
        self._dead_letters: KafkaDeadLetters | None = None
        self._enrollments: PostgresEnrollments | None = None

    async def connect(self, stack: AsyncExitStack) -> None:
        clients = await open_clients(
            stack,
            self.settings,
            name=self.name,
            topics=[
                self.topics.events_normalized,
                self.topics.workflows_changelog,
                self.topics.executions_requested,
                self.topics.events_deadletter,
            ],
            migrate=migrate,
        )
        await verify_copartitioned(clients.producer, self.topics)
        self._sink = KafkaExecutionSink(clients.producer, self.topics.executions_requested)
        self._dead_letters = KafkaDeadLetters(clients.producer, self.topics.events_deadletter)
        self._enrollments = PostgresEnrollments(clients.pool)
        self.readiness_checks = clients.readiness_checks

    async def begin(self, stack: AsyncExitStack) -> None:
        if self._sink is None or self._enrollments is None or self._dead_letters is None:
            raise RuntimeError("begin() runs only after connect() succeeded")
        consumer = make_consumer(
            self.settings.kafka, group_id=None, client_id=f"{self.name}-changelog"
        )
        offsets = make_consumer(
            self.settings.kafka, group_id=None, client_id=f"{self.name}-changelog-offsets"
        )
        workflows = ChangelogReader(
            consumer,
            self.topics.workflows_changelog,
            offsets=offsets,
            grace_seconds=self.settings.shutdown_grace_seconds,
        )
        await workflows.start()
        self.run_in_background(workflows, stack)
        self.workflows = workflows

        data_dir = self.settings.data_dir
        if data_dir is None:
            data_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="matcher-")))
        stream = EventStream(
            self.settings,
            self.topics,
            workflows,
            self._sink,
            self._enrollments,
            self._dead_letters,
            data_dir=data_dir,
        )
        self.stream = stream
        stack.push_async_callback(stream.stop)  # also after a start that failed half-way
        await stream.start()
        self.spawn(stream.watch(), name="events.normalized stream")
        # faust's group is the app id: its lag is read like every other group's.
        await export_lag(
            self,
            stack,
            self.settings.kafka,
            {self.settings.consumer_group: [self.topics.events_normalized]},
        )
