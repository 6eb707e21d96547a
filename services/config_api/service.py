"""The config API's composition root: pool, producer, outbox relay, repositories, routes."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

from aiohttp import web

from services.config_api.adapters import http
from services.config_api.adapters.outbox import OutboxRelay
from services.config_api.adapters.postgres import (
    PoolHolder,
    PostgresAuditLog,
    PostgresEmailTemplates,
    PostgresExecutionReader,
    PostgresInboundSecrets,
    PostgresProductRecords,
    PostgresRuns,
    PostgresTemplateGallery,
    PostgresTenants,
    PostgresWorkflowRepository,
    migrate,
)
from services.config_api.adapters.postgres.hooks import PostgresWorkflowHooks
from services.config_api.domain import SavePolicy
from services.config_api.settings import ConfigApiSettings
from shared import tenancy
from shared.clients import open_clients
from shared.contracts import Topics
from shared.kafka import topic_is_empty
from shared.lifecycle import Service
from shared.postgres import Pool

__all__ = ["ConfigApiService", "migrate"]


class ConfigApiService(Service):
    name = "config-api"

    def __init__(self, settings: ConfigApiSettings) -> None:
        super().__init__(
            host=settings.host, port=settings.port, client_max_size=settings.max_body_bytes
        )
        self.settings = settings
        self.topics = Topics(settings.kafka.topic_prefix)
        self._changes_written = asyncio.Event()
        self._pool: Pool | None = None
        self._relay: OutboxRelay | None = None
        self.repository = PostgresWorkflowRepository(changes_written=self._changes_written)
        self.executions = PostgresExecutionReader()
        self.templates = PostgresEmailTemplates()
        self.secrets = PostgresInboundSecrets()
        self.audit = PostgresAuditLog()
        self.records = PostgresProductRecords()
        self.tenants = PostgresTenants()
        self.gallery = PostgresTemplateGallery(self.repository)
        self.hooks = PostgresWorkflowHooks()
        self.runs = PostgresRuns(changes_written=self._changes_written)

    @property
    def _repositories(self) -> tuple[PoolHolder, ...]:
        return (
            self.repository,
            self.executions,
            self.templates,
            self.secrets,
            self.audit,
            self.records,
            self.tenants,
            self.gallery,
            self.hooks,
            self.runs,
        )

    def add_routes(self, app: web.Application) -> None:
        http.add_routes(
            app,
            api=http.Api(
                workflows=self.repository,
                executions=self.executions,
                templates=self.templates,
                secrets=self.secrets,
                audit=self.audit,
                records=self.records,
                policy=SavePolicy(allow_private_networks=self.settings.allow_private_networks),
                tenants=self.tenants,
                page_size_max=self.settings.page_size_max,
                gallery=self.gallery,
                hooks=self.hooks,
                hooks_base_url=self.settings.hooks_base_url,
                runs=self.runs,
                run_data_max_bytes=self.settings.run_data_max_bytes,
            ),
            authenticate=self._authenticate,
        )

    async def connect(self, stack: AsyncExitStack) -> None:
        clients = await open_clients(
            stack,
            self.settings,
            name=self.name,
            topics=[self.topics.workflows_changelog, self.topics.executions_requested],
            migrate=migrate,
        )
        pool = clients.pool
        for repository in self._repositories:
            repository.pool = pool
        if await topic_is_empty(self.settings.kafka, self.topics.workflows_changelog):
            # A new or emptied broker: the changelog must again hold every workflow.
            await self.repository.republish_all()
        relay = OutboxRelay(
            pool,
            clients.producer,
            topic_prefix=self.topics.prefix,
            wake=self._changes_written,
            poll_seconds=self.settings.outbox_poll_seconds,
            batch_size=self.settings.outbox_batch_size,
            publish_timeout_seconds=self.settings.changelog_publish_timeout_seconds,
            grace_seconds=self.settings.shutdown_grace_seconds,
        )
        self._relay = relay
        self.repository.outbox = relay
        self.runs.outbox = relay
        self._pool = pool
        self.readiness_checks = clients.readiness_checks

    async def begin(self, stack: AsyncExitStack) -> None:
        if self._relay is not None:
            self.run_in_background(self._relay, stack)

    async def _authenticate(self, token: str) -> tenancy.Principal | None:
        if self._pool is None:
            return None
        return await tenancy.authenticate(self._pool, token)
