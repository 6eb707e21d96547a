"""Ingest's composition root: builds the adapters, wires the handlers, runs the lifecycle."""

from __future__ import annotations

from contextlib import AsyncExitStack

from aiohttp import web

from services.ingest.adapters import http, postgres
from services.ingest.adapters.kafka import KafkaEventSink, inbound_record_handler
from services.ingest.adapters.postgres import (
    PostgresPublishedEvents,
    PostgresWorkflowHooks,
    PurgeLoop,
)
from services.ingest.settings import IngestSettings
from shared import tenancy
from shared.clients import open_clients
from shared.contracts import Topics
from shared.kafka import ConsumerLoop, make_consumer
from shared.kafka.lag import export_lag
from shared.lifecycle import Service
from shared.postgres import Pool


class IngestService(Service):
    name = "ingest"

    def __init__(self, settings: IngestSettings) -> None:
        super().__init__(
            host=settings.host, port=settings.port, client_max_size=settings.max_body_bytes
        )
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix)
        self._pool: Pool | None = None
        self.sink = KafkaEventSink(
            self.topics, timeout_seconds=settings.kafka.request_timeout_ms / 1000
        )
        self.store = PostgresPublishedEvents(settings.dedup_window_hours * 3600)
        self.hooks = PostgresWorkflowHooks()

    def add_routes(self, app: web.Application) -> None:
        http.add_routes(
            app,
            sink=self.sink,
            store=self.store,
            authenticate=self._authenticate,
            inbound_secret=self._inbound_secret,
            max_events=self.settings.max_batch_events,
            public_base_url=self.settings.public_base_url,
            workflow_hooks=self.hooks,
        )

    async def connect(self, stack: AsyncExitStack) -> None:
        clients = await open_clients(
            stack,
            self.settings,
            name=self.name,
            topics=[
                self.topics.events_inbound,
                self.topics.events_normalized,
                self.topics.events_deadletter,
            ],
            migrate=_migrate,
        )
        self._pool = clients.pool
        self.store.pool = clients.pool
        self.hooks.pool = clients.pool
        self.sink.producer = clients.producer
        self.readiness_checks = clients.readiness_checks

    async def begin(self, stack: AsyncExitStack) -> None:
        consumer_group = self.settings.consumer_group
        consumer = make_consumer(
            self.settings.kafka,
            self.topics.events_inbound,
            group_id=consumer_group,
            client_id=self.name,
        )
        loop = ConsumerLoop(
            consumer,
            inbound_record_handler(
                self.sink, self.store, max_events=self.settings.max_batch_events
            ),
            name="events.inbound",
            grace_seconds=self.settings.shutdown_grace_seconds,
        )
        await loop.start()
        self.run_in_background(loop, stack)
        purge = PurgeLoop(
            self.store,
            interval=self.settings.dedup_purge_interval_seconds,
            grace_seconds=self.settings.shutdown_grace_seconds,
        )
        await purge.start()
        self.run_in_background(purge, stack)
        await export_lag(
            self, stack, self.settings.kafka, {consumer_group: [self.topics.events_inbound]}
        )

    async def _authenticate(self, token: str) -> tenancy.Principal | None:
        if self._pool is None:
            return None
        return await tenancy.authenticate(self._pool, token)

    async def _inbound_secret(self, tenant_id: str, source: str) -> str | None:
        if self._pool is None or source not in tenancy.INBOUND_SOURCES:
            return None
        return await tenancy.inbound_secret(self._pool, tenant_id, source)


async def _migrate(pool: Pool) -> None:
    """The tenancy tables ingest reads, and ingest's own."""
    await tenancy.migrate(pool)
    await postgres.migrate(pool)
