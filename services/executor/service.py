"""The executor's composition root: builds the adapters, wires the handlers, runs the lifecycle."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from services.executor.adapters.actions import action_registry
from services.executor.adapters.kafka import KafkaDeadLetters, execution_record_handler
from services.executor.adapters.postgres import PostgresExecutionStore, migrate
from services.executor.adapters.webhook import WebhookSender
from services.executor.settings import ExecutorSettings
from shared.clients import open_clients
from shared.contracts import Topics
from shared.kafka import ConsumerLoop, make_consumer
from shared.kafka.lag import export_lag
from shared.lifecycle import Service

log = logging.getLogger(__name__)


class ExecutorService(Service):
    """Consumes ``executions.requested`` and performs each execution's actions.

    On stop, intake stops and the batch in flight gets ``shutdown_grace_seconds`` to finish and
    be committed; past that it is abandoned uncommitted, to be redelivered and resumed from its
    last recorded step. Only then are the HTTP session, producer and pool closed.
    """

    name = "executor"

    def __init__(self, settings: ExecutorSettings) -> None:
        super().__init__(host=settings.host, port=settings.port)
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix)
        self.dead_letters = KafkaDeadLetters(self.topics)
        self._store: PostgresExecutionStore | None = None
        self._webhooks: WebhookSender | None = None

    async def connect(self, stack: AsyncExitStack) -> None:
        clients = await open_clients(
            stack,
            self.settings,
            name=self.name,
            topics=[self.topics.executions_requested, self.topics.executions_deadletter],
            migrate=migrate,
        )
        webhooks = WebhookSender(self.settings.webhook)
        await webhooks.start()
        stack.push_async_callback(webhooks.close)
        self.dead_letters.producer = clients.producer
        self._store = PostgresExecutionStore(clients.pool)
        self._webhooks = webhooks
        self.readiness_checks = clients.readiness_checks

    async def begin(self, stack: AsyncExitStack) -> None:
        if self._store is None or self._webhooks is None:
            raise RuntimeError("begin() before connect()")
        if self.settings.webhook.uses_dev_secret:
            log.warning(
                "webhooks are signed with the public development secret; set WEBHOOK_SIGNING_SECRET"
            )
        consumer = make_consumer(
            self.settings.kafka,
            self.topics.executions_requested,
            group_id=self.settings.consumer_group,
            client_id=self.name,
            max_poll_records=self.settings.max_poll_records,
        )
        handle = execution_record_handler(
            store=self._store,
            actions=action_registry(webhook=self._webhooks),
            dead_letters=self.dead_letters,
            retry=self.settings.retry_policy,
        )
        loop = ConsumerLoop(
            consumer,
            handle,
            name="executions.requested",
            grace_seconds=self.settings.shutdown_grace_seconds,
        )
        await loop.start()
        self.run_in_background(loop, stack)
        await export_lag(
            self,
            stack,
            self.settings.kafka,
            {self.settings.consumer_group: [self.topics.executions_requested]},
        )
