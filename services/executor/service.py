"""The executor's composition root: builds the adapters, wires the handlers, runs the lifecycle."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from services.executor.adapters.actions import action_registry
from services.executor.adapters.call_api import ApiCaller
from services.executor.adapters.email import EmailSender, PublishedEmailTemplates
from services.executor.adapters.hubspot import HubSpotClient
from services.executor.adapters.kafka import (
    KafkaDeadLetters,
    KafkaDeferrals,
    execution_record_handler,
    exit_record_handler,
)
from services.executor.adapters.notify import LoggingFailureNotifier
from services.executor.adapters.outbound import OutboundHttp
from services.executor.adapters.postgres import (
    LeaseRenewal,
    PostgresDestinationPauses,
    PostgresExecutionStore,
    migrate,
)
from services.executor.adapters.records import RECORD_ACTION_TYPES, ProductRecords
from services.executor.adapters.retention import RetentionLoop
from services.executor.adapters.salesforce import SalesforceClient
from services.executor.adapters.slack import SlackPoster
from services.executor.adapters.teams import TeamsPoster
from services.executor.adapters.trigger_workflow import WorkflowTrigger
from services.executor.adapters.webhook import WebhookSender
from services.executor.handlers import ActionRegistry, Engine, FailureNotifier, PerformAction
from services.executor.settings import ExecutorSettings
from shared.clients import open_clients
from shared.contracts import Topics
from shared.kafka import ConcurrentConsumerLoop, ConsumerLoop, make_consumer
from shared.kafka.lag import export_lag
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

    ``notifyOnFailure`` is told by ``notifier`` when one is given (tests), otherwise by e-mail
    through the SMTP server when one is configured, otherwise in a log line.
    """

    name = "executor"

    def __init__(self, settings: ExecutorSettings, notifier: FailureNotifier | None = None) -> None:
        super().__init__(host=settings.host, port=settings.port)
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix)
        self.dead_letters = KafkaDeadLetters(self.topics)
        self.deferrals = KafkaDeferrals(self.topics)
        self._notifier = notifier
        self.requests: ConcurrentConsumerLoop | None = None
        self._store: PostgresExecutionStore | None = None
        self._pauses: PostgresDestinationPauses | None = None
        self._actions: ActionRegistry | None = None
        self._email: EmailSender | None = None

    @property
    def actions(self) -> ActionRegistry:
        """The performer of each action type (once connected)."""
        if self._actions is None:
            raise RuntimeError("the executor has not connected yet")
        return self._actions

    @property
    def notifier(self) -> FailureNotifier:
        """Who tells ``notifyOnFailure`` (once connected)."""
        if self._notifier is not None:
            return self._notifier
        if self._email is None:
            raise RuntimeError("the executor has not connected yet")
        return self._email if self.settings.smtp.configured else LoggingFailureNotifier()

    async def connect(self, stack: AsyncExitStack) -> None:
        settings = self.settings
        topics = self.topics
        clients = await open_clients(
            stack,
            settings,
            name=self.name,
            topics=[
                topics.executions_requested,
                topics.executions_deferred,
                topics.executions_deadletter,
                topics.events_normalized,
            ],
            migrate=migrate,
        )
        http = OutboundHttp(settings.webhook)
        await http.start()
        stack.push_async_callback(http.close)
        trigger = WorkflowTrigger(topics, max_depth=settings.max_chain_depth)
        trigger.producer = clients.producer
        email = EmailSender(settings.smtp, PublishedEmailTemplates(clients.pool))
        records = ProductRecords(clients.pool)
        salesforce = SalesforceClient(settings.salesforce, http)
        hubspot = HubSpotClient(settings.hubspot, http)
        performers: dict[str, PerformAction] = {
            "webhook": WebhookSender(settings.webhook, http).perform,
            "call_api": ApiCaller(http).perform,
            "slack": SlackPoster(settings.slack, http).perform,
            "teams": TeamsPoster(settings.teams, http).perform,
            "email": email.perform,
            "salesforce_create": salesforce.perform,
            "salesforce_update": salesforce.perform,
            "hubspot_create": hubspot.perform,
            "hubspot_update": hubspot.perform,
            "trigger_workflow": trigger.perform,
            **dict.fromkeys(RECORD_ACTION_TYPES, records.perform),
        }
        self.dead_letters.producer = clients.producer
        self.deferrals.producer = clients.producer
        self._store = PostgresExecutionStore(clients.pool)
        self._pauses = PostgresDestinationPauses(
            clients.pool, cache_seconds=settings.pause_cache_seconds
        )
        self._actions = action_registry(performers)
        self._email = email
        self.readiness_checks = clients.readiness_checks
        renewal = LeaseRenewal(
            clients.pool, self._store.leases, lease_seconds=settings.lease_seconds
        )
        self.run_in_background(renewal, stack)
        retention = RetentionLoop(
            clients.pool,
            days=settings.execution_retention_days,
            batch=settings.execution_retention_batch_size,
            interval_seconds=settings.execution_retention_interval_seconds,
            grace_seconds=settings.shutdown_grace_seconds,
        )
        self.run_in_background(retention, stack)

    async def begin(self, stack: AsyncExitStack) -> None:
        if self._store is None or self._pauses is None or self._actions is None:
            raise RuntimeError("begin() before connect()")
        settings = self.settings
        if settings.webhook.uses_dev_secret:
            log.warning(
                "webhooks are signed with the public development secret; set WEBHOOK_SIGNING_SECRET"
            )
        engine = Engine(
            store=self._store,
            actions=self._actions,
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
        await export_lag(self, stack, settings.kafka, settings.consumer_groups(self.topics))
