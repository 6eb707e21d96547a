"""The executor's composition root: builds the adapters, wires the handlers, runs the lifecycle."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from services.executor.adapters.actions import action_registry
from services.executor.adapters.kafka import (
    KafkaDeadLetters,
    KafkaDeferrals,
    execution_record_handler,
    exit_record_handler,
)
from services.executor.adapters.notify import LoggingFailureNotifier
from services.executor.adapters.postgres import (
    LeaseRenewal,
    PostgresDestinationPauses,
    PostgresExecutionStore,
    migrate,
)
from services.executor.adapters.webhook import WebhookSender
from services.executor.handlers import Engine, FailureNotifier
from services.executor.settings import ExecutorSettings
from shared.clients import open_clients
from shared.contracts import Topics
from shared.kafka import ConcurrentConsumerLoop, ConsumerLoop, make_consumer
from shared.lifecycle import Service

log = logging.getLogger(__name__)


class ExecutorService(Service):
    """Consumes ``executions.requested`` and performs each execution's actions; reads
    ``events.normalized`` (a group of its own) to end waiting executions by their exit
    conditions.

    Requests run concurrently, also within a partition, each committed once it and every
    request before it on its partition is finished. On stop, intake stops and the requests in
    flight get ``shutdown_grace_seconds`` to finish and be committed; past that they are
    abandoned uncommitted (their leases released), to be redelivered and resumed from their
    last recorded step. Only then are the HTTP session, producer and pool closed.
    """

    name = "executor"

    def __init__(self, settings: ExecutorSettings, notifier: FailureNotifier | None = None) -> None:
        super().__init__(host=settings.host, port=settings.port)
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix)
        self.dead_letters = KafkaDeadLetters(self.topics)
        self.deferrals = KafkaDeferrals(self.topics)
        self.notifier = notifier or LoggingFailureNotifier()
        self.requests: ConcurrentConsumerLoop | None = None
        self._store: PostgresExecutionStore | None = None
        self._pauses: PostgresDestinationPauses | None = None
        self._webhooks: WebhookSender | None = None

    async def connect(self, stack: AsyncExitStack) -> None:
        topics = self.topics
        clients = await open_clients(
            stack,
            self.settings,
            name=self.name,
            topics=[
                topics.executions_requested,
                topics.executions_deferred,
                topics.executions_deadletter,
                topics.events_normalized,
            ],
            migrate=migrate,
        )
        webhooks = WebhookSender(self.settings.webhook)
        await webhooks.start()
        stack.push_async_callback(webhooks.close)
        self.dead_letters.producer = clients.producer
        self.deferrals.producer = clients.producer
        self._store = PostgresExecutionStore(clients.pool)
        self._pauses = PostgresDestinationPauses(
            clients.pool, cache_seconds=self.settings.pause_cache_seconds
        )
        self._webhooks = webhooks
        self.readiness_checks = clients.readiness_checks
        renewal = LeaseRenewal(
            clients.pool, self._store.leases, lease_seconds=self.settings.lease_seconds
        )
        self.run_in_background(renewal, stack)

    async def begin(self, stack: AsyncExitStack) -> None:
        if self._store is None or self._pauses is None or self._webhooks is None:
            raise RuntimeError("begin() before connect()")
        settings = self.settings
        if settings.webhook.uses_dev_secret:
            log.warning(
                "webhooks are signed with the public development secret; set WEBHOOK_SIGNING_SECRET"
            )
        engine = Engine(
            store=self._store,
            actions=action_registry(webhook=self._webhooks),
            dead_letters=self.dead_letters,
            deferrals=self.deferrals,
            pauses=self._pauses,
            notifier=self.notifier,
            retry=settings.retry_policy,
            owner=settings.lease_owner,
            lease_seconds=settings.lease_seconds,
        )
        exits = ConsumerLoop(
            make_consumer(
                settings.kafka,
                self.topics.events_normalized,
                group_id=settings.exit_consumer_group,
                client_id=f"{self.name}-exits",
            ),
            exit_record_handler(self._store),
            name="events.normalized (exit conditions)",
            grace_seconds=settings.shutdown_grace_seconds,
        )
        await exits.start()
        self.run_in_background(exits, stack)
        self.requests = ConcurrentConsumerLoop(
            make_consumer(
                settings.kafka,
                group_id=settings.consumer_group,
                client_id=self.name,
                max_poll_records=settings.max_poll_records,
            ),
            [self.topics.executions_requested],
            execution_record_handler(engine),
            name="executions.requested",
            grace_seconds=settings.shutdown_grace_seconds,
            max_in_flight=settings.max_in_flight,
            max_in_flight_per_partition=settings.max_in_flight_per_partition,
        )
        await self.requests.start()
        self.run_in_background(self.requests, stack)
