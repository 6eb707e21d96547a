"""Ingest's composition root: builds the adapters, wires the handlers, runs the lifecycle."""

from __future__ import annotations

from contextlib import AsyncExitStack

from aiohttp import web

from services.ingest.adapters import http
from services.ingest.adapters.kafka import KafkaEventSink, inbound_record_handler
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
        self.sink = KafkaEventSink(self.topics)

    def add_routes(self, app: web.Application) -> None:
        http.add_routes(
            app,
            sink=self.sink,
            authenticate=self._authenticate,
            max_events=self.settings.max_batch_events,
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
            migrate=tenancy.migrate,
        )
        self._pool = clients.pool
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
            inbound_record_handler(self.sink),
            name="events.inbound",
            grace_seconds=self.settings.shutdown_grace_seconds,
        )
        await loop.start()
        self.run_in_background(loop, stack)
        await export_lag(
            self, stack, self.settings.kafka, {consumer_group: [self.topics.events_inbound]}
        )

    async def _authenticate(self, token: str) -> tenancy.Principal | None:
        if self._pool is None:
            return None
        return await tenancy.authenticate(self._pool, token)
