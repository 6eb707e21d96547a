"""Fixtures for the executor against the real broker and PostgreSQL: the service, a local webhook
receiver, and helpers to produce requests and wait for their outcome (always bounded)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import SecretStr

from services.executor.adapters.outbound import OutboundHttp
from services.executor.service import ExecutorService
from services.executor.settings import (
    ExecutorSettings,
    HubSpotSettings,
    SalesforceSettings,
    SlackSettings,
    SmtpSettings,
    TeamsSettings,
    WebhookSettings,
)
from shared.contracts import CloudEvent, ExecutionRequest, Topics, WorkflowDefinition
from shared.contracts.executions import execution_id_for
from shared.postgres import Pool, apply_migrations
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing.providers import ProviderFakes
from shared.testing.smtp import SmtpSink

SIGNING_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WAIT_SECONDS = 30


@dataclass(frozen=True)
class Delivery:
    path: str
    method: str
    headers: dict[str, str]
    body: str


class Receiver:
    """A local HTTP server standing in for a webhook receiver.

    Each path answers its deliveries with the statuses scripted for it, in order, then 200; a
    held path answers only once released.
    """

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self._script: dict[str, list[int]] = defaultdict(list)
        self._held: dict[str, asyncio.Event] = {}
        self._arrived = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._receive)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        for released in self._held.values():
            released.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path}"

    def answer(self, path: str, *statuses: int) -> None:
        self._script[path].extend(statuses)

    def hold(self, path: str) -> asyncio.Event:
        """Keep deliveries to ``path`` waiting for an answer until the returned event is set."""
        return self._held.setdefault(path, asyncio.Event())

    def at(self, path: str) -> list[Delivery]:
        return [d for d in self.deliveries if d.path == path]

    async def wait_for(self, path: str, count: int) -> list[Delivery]:
        async with asyncio.timeout(WAIT_SECONDS), self._arrived:
            await self._arrived.wait_for(lambda: len(self.at(path)) >= count)
        return self.at(path)

    async def _receive(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        body = await request.text()
        async with self._arrived:
            self.deliveries.append(Delivery(path, request.method, dict(request.headers), body))
            self._arrived.notify_all()
        if path in self._held:
            await self._held[path].wait()
        script = self._script[path]
        status = script.pop(0) if script else 200
        return web.json_response({"status": status}, status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


StartExecutor = Callable[..., Awaitable[ExecutorService]]


@pytest.fixture
async def start_executor(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, topic_prefix: str
) -> AsyncIterator[StartExecutor]:
    """Start an executor on this test's topics; ``allow_private_networks`` defaults to True."""
    started: list[ExecutorService] = []

    async def start(*, allow_private_networks: bool = True, **overrides: Any) -> ExecutorService:
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": 0,
            "kafka": kafka_settings,
            "postgres": postgres_settings,
            "consumer_group": f"executor-{topic_prefix}",
            "shutdown_grace_seconds": 10,
            "action_attempts": 4,
            "action_retry_timeout_seconds": 20,
            "action_retry_wait_initial_seconds": 0.01,
            "action_retry_wait_max_seconds": 0.05,
            "webhook": WebhookSettings(
                signing_secret=SecretStr(SIGNING_SECRET),
                allow_private_networks=allow_private_networks,
                timeout_seconds=20,
            ),
        }
        service = ExecutorService(ExecutorSettings(**(settings | overrides)))
        started.append(service)
        await service.start()
        return service

    try:
        yield start
    finally:
        for service in started:
            await service.stop()


@pytest.fixture
async def executor(start_executor: StartExecutor) -> ExecutorService:
    return await start_executor()


def a_request(tenant_id: str, *urls: str, workflow_id: str | None = None) -> ExecutionRequest:
    """A request to run a fresh workflow whose actions are webhooks to ``urls``."""
    workflow_id = workflow_id or f"wf-{uuid.uuid4().hex[:8]}"
    event = CloudEvent(
        id=f"evt-{uuid.uuid4().hex[:8]}",
        source="native",
        type="private_offer.accepted",
        tenantid=tenant_id,
        data={"customerName": "Globex", "value": 150000},
    )
    workflow = WorkflowDefinition.model_validate(
        {
            "name": "Tell the partner",
            "trigger": "private_offer.accepted",
            "status": "active",
            "actions": [
                {"type": "webhook", "url": url, "headers": {"X-Partner": "globex"}} for url in urls
            ],
        }
    )
    return ExecutionRequest(
        execution_id=execution_id_for(event, workflow_id, 1),
        tenant_id=tenant_id,
        workflow_id=workflow_id,
        workflow_version=1,
        workflow=workflow,
        event=event,
    )


async def produce(settings: KafkaSettings, *records: tuple[bytes, bytes | None]) -> None:
    """Send (value, key) records to ``executions.requested``, in order, and wait for the acks."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    await producer.start()
    try:
        for value, key in records:
            await producer.send_and_wait(
                Topics(settings.topic_prefix).executions_requested, value, key=key
            )
    finally:
        await producer.stop()


async def committed_offsets(settings: KafkaSettings, group_id: str) -> int:
    """How many records of ``executions.requested`` the group has committed, over all partitions."""
    topic = Topics(settings.topic_prefix).executions_requested
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers, group_id=group_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        partitions = consumer.partitions_for_topic(topic) or set()
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in partitions]
    finally:
        await consumer.stop()
    return sum(offset or 0 for offset in offsets)


def as_record(request: ExecutionRequest) -> tuple[bytes, bytes]:
    return request.model_dump_json().encode(), request.workflow_id.encode()


async def finished_execution(pool: Pool, execution_id: str) -> asyncpg.Record:
    """The execution's row once it is no longer running."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            row = await pool.fetchrow("SELECT * FROM executions WHERE id = $1", execution_id)
            if row is not None and row["status"] != "running":
                return row
            await asyncio.sleep(0.02)


async def dead_lettered_execution(pool: Pool, execution_id: str) -> asyncpg.Record:
    """The execution's row once its dead letter is acknowledged (after it finished as failed)."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            row = await pool.fetchrow("SELECT * FROM executions WHERE id = $1", execution_id)
            if row is not None and row["deadlettered_at"] is not None:
                return row
            await asyncio.sleep(0.02)


async def steps_of(pool: Pool, execution_id: str) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT * FROM execution_steps WHERE execution_id = $1 ORDER BY step_index", execution_id
    )
    return [dict(row) for row in rows]


async def records_of(
    settings: KafkaSettings, topic: str, count: int
) -> list[tuple[bytes | None, bytes]]:
    """The first ``count`` (key, value) records of ``topic``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    found: list[tuple[bytes | None, bytes]] = []
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while len(found) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found.extend((r.key, r.value) for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return found


async def dead_letters(settings: KafkaSettings, count: int) -> list[tuple[bytes | None, bytes]]:
    """The first ``count`` (key, value) records of ``executions.deadletter``."""
    return await records_of(settings, Topics(settings.topic_prefix).executions_deadletter, count)


# --- the providers' stand-ins -------------------------------------------------------------------

EMAIL_FROM = "Workflows <workflows@acme.test>"


@pytest.fixture
async def fakes() -> AsyncIterator[ProviderFakes]:
    """Slack, Teams, Salesforce, HubSpot and a webhook receiver, as local servers."""
    fakes = ProviderFakes()
    await fakes.start()
    try:
        yield fakes
    finally:
        await fakes.stop()


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    """A plain SMTP server (no TLS, no login), keeping every message."""
    sink = SmtpSink()
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


def provider_settings(fakes: ProviderFakes, smtp: SmtpSink | None = None) -> dict[str, Any]:
    """``ExecutorSettings`` overrides pointing every provider at the fakes (and ``smtp``)."""
    urls = fakes.urls
    return {
        "slack": SlackSettings(api_url=urls["SLACK_API_URL"], bot_token=SecretStr(fakes.token)),
        "teams": TeamsSettings(webhook_url=SecretStr(urls["TEAMS_WEBHOOK_URL"])),
        "salesforce": SalesforceSettings(
            instance_url=urls["SALESFORCE_INSTANCE_URL"], access_token=SecretStr(fakes.token)
        ),
        "hubspot": HubSpotSettings(
            api_url=urls["HUBSPOT_API_URL"], access_token=SecretStr(fakes.token)
        ),
        "smtp": SmtpSettings(
            host=smtp.host if smtp else "", port=smtp.port if smtp else 587, EMAIL_FROM=EMAIL_FROM
        ),
    }


@pytest.fixture
async def http() -> AsyncIterator[OutboundHttp]:
    """The executor's outbound HTTP client, allowed to reach the local fakes."""
    client = OutboundHttp(
        WebhookSettings(
            signing_secret=SecretStr(SIGNING_SECRET),
            allow_private_networks=True,
            timeout_seconds=10,
        )
    )
    await client.start()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def config_api_views(pool: Pool) -> None:
    """The config API's tables and published views (e-mail templates), by package name: the
    executor's tests must not import the config API."""
    await apply_migrations(pool, owner="tenancy", package="shared.tenancy")
    await apply_migrations(pool, owner="config_api", package="services.config_api")


async def add_email_template(
    pool: Pool, tenant_id: str, name: str, subject: str, body: str, html_body: str | None
) -> None:
    """A template as the config API stores it."""
    await pool.execute(
        "INSERT INTO email_templates (id, tenant_id, name, subject, body, html_body, created_by)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'test')",
        f"tpl_{uuid.uuid4().hex}",
        tenant_id,
        name,
        subject,
        body,
        html_body,
    )


DEAL = {
    "customerName": "Globex",
    "value": 150000,
    "vendor": "aws",
    "productName": "DataPipe",
    "accountOwnerEmail": "owner@acme.test",
}


def request_for(
    tenant_id: str,
    actions: list[dict[str, Any]],
    *,
    data: dict[str, Any] | None = None,
    subject: str | None = "acct-42",
    error_handling: dict[str, Any] | None = None,
    chaindepth: int | None = None,
    workflow_id: str | None = None,
) -> ExecutionRequest:
    """A request to run a fresh workflow with ``actions`` for an offer-accepted event."""
    workflow_id = workflow_id or f"wf-{uuid.uuid4().hex[:8]}"
    event = CloudEvent(
        id=f"evt-{uuid.uuid4().hex[:8]}",
        source="native",
        type="private_offer.accepted",
        tenantid=tenant_id,
        subject=subject,
        data=DEAL if data is None else data,
        chaindepth=chaindepth,
    )
    definition: dict[str, Any] = {
        "name": "Deal actions",
        "trigger": "private_offer.accepted",
        "status": "active",
        "actions": actions,
    }
    if error_handling is not None:
        definition["errorHandling"] = error_handling
    return ExecutionRequest(
        execution_id=execution_id_for(event, workflow_id, 1),
        tenant_id=tenant_id,
        workflow_id=workflow_id,
        workflow_version=1,
        workflow=WorkflowDefinition.model_validate(definition),
        event=event,
    )
