"""The executor's composition root: builds the adapters, wires the handlers, runs the lifecycle."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

from services.executor.adapters.actions import action_registry
from services.executor.adapters.call_api import ApiCaller
from services.executor.adapters.email import EmailSender, PublishedEmailTemplates
from services.executor.adapters.hubspot import HubSpotClient
from services.executor.adapters.kafka import KafkaDeadLetters, execution_record_handler
from services.executor.adapters.outbound import OutboundHttp
from services.executor.adapters.postgres import PostgresExecutionStore, migrate
from services.executor.adapters.records import RECORD_ACTION_TYPES, ProductRecords
from services.executor.adapters.salesforce import SalesforceClient
from services.executor.adapters.slack import SlackPoster
from services.executor.adapters.teams import TeamsPoster
from services.executor.adapters.trigger_workflow import WorkflowTrigger
from services.executor.adapters.webhook import WebhookSender
from services.executor.handlers import ActionRegistry, PerformAction
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
        self._actions: ActionRegistry | None = None
        self._email: EmailSender | None = None

    @property
    def actions(self) -> ActionRegistry:
        """The performer of each action type (once connected)."""
        if self._actions is None:
            raise RuntimeError("the executor has not connected yet")
        return self._actions

    async def connect(self, stack: AsyncExitStack) -> None:
        settings = self.settings
        clients = await open_clients(
            stack,
            settings,
            name=self.name,
            topics=[
                self.topics.executions_requested,
                self.topics.executions_deadletter,
                self.topics.events_normalized,
            ],
            migrate=migrate,
        )
        http = OutboundHttp(settings.webhook)
        await http.start()
        stack.push_async_callback(http.close)
        trigger = WorkflowTrigger(self.topics, max_depth=settings.max_chain_depth)
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
        self._store = PostgresExecutionStore(clients.pool)
        self._actions = action_registry(performers)
        self._email = email
        self.readiness_checks = clients.readiness_checks

    async def begin(self, stack: AsyncExitStack) -> None:
        if self._store is None or self._actions is None:
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
            actions=self._actions,
            dead_letters=self.dead_letters,
            retry=self.settings.retry_policy,
            notifier=self._email,
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
