"""Helpers for the config API's integration tests: keys, an HTTP client, the changelog."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer
from multidict import CIMultiDictProxy

from services.config_api.service import ConfigApiService
from shared import tenancy
from shared.contracts import Topics, WorkflowChange
from shared.postgres import Pool
from shared.settings import KafkaSettings

WEBHOOK_WORKFLOW: dict[str, Any] = {
    "name": "Accepted offers to the CRM bridge",
    "trigger": "private_offer.accepted",
    "actions": [{"type": "webhook", "url": "https://hooks.example.com/offers"}],
    "active": True,
}


async def key_for(pool: Pool, tenant_id: str, role: tenancy.Role = "read-write") -> str:
    await tenancy.create_tenant(pool, tenant_id)
    return await tenancy.create_api_key(pool, tenant_id, role=role)


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any
    headers: CIMultiDictProxy[str]


class Client:
    """Calls the service as one API key (or none)."""

    def __init__(self, service: ConfigApiService, key: str | None) -> None:
        self.base = f"http://127.0.0.1:{service.http.bound_port}"
        self.headers = {"Authorization": f"Bearer {key}"} if key is not None else {}

    async def call(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Reply:
        async with (
            aiohttp.ClientSession() as http,
            http.request(
                method, self.base + path, headers={**self.headers, **(headers or {})}, **kwargs
            ) as response,
        ):
            raw = await response.read()
            body = json.loads(raw) if raw else None
            return Reply(response.status, body, response.headers)

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        reply = await self.call(method, path, **kwargs)
        return reply.status, reply.body

    async def create(self, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, created = await self.request(
            "POST", "/api/workflows", json=body or WEBHOOK_WORKFLOW
        )
        assert status == 201, created
        return dict(created)


async def changelog_of(
    kafka_settings: KafkaSettings, key: str, *, until: int
) -> list[WorkflowChange]:
    """The changelog records of one workflow key, read from the start until ``until`` arrived."""
    consumer = AIOKafkaConsumer(
        Topics(kafka_settings.topic_prefix).workflows_changelog,
        bootstrap_servers=kafka_settings.bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    changes: list[WorkflowChange] = []
    try:
        async with asyncio.timeout(20):
            while not any(change.version == until for change in changes):
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    changes.extend(
                        WorkflowChange.model_validate_json(record.value)
                        for record in batch
                        if record.key == key.encode() and record.value is not None
                    )
    finally:
        await consumer.stop()
    return changes
