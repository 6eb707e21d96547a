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


async def insert_product_records(
    pool: Pool, tenant_id: str, workflow_id: str, execution_id: str, *, subject: str = "acct-1"
) -> dict[str, str]:
    """One row of each product record kind, as the executor writes them (its migrations must
    have run); returns each kind's path (``/api/tasks``) and the row's id."""
    suffix = execution_id[-12:]
    origin = (tenant_id, workflow_id, execution_id)
    ids = {
        "/api/tasks": f"task_{suffix}",
        "/api/activities": f"act_{suffix}",
        "/api/notifications": f"ntf_{suffix}",
        "/api/draft-offers": f"dof_{suffix}",
        "/api/assignments": f"asg_{suffix}",
        "/api/tags": f"tag_{suffix}",
        "/api/records": f"rec_{suffix}",
    }
    await pool.execute(
        "INSERT INTO tasks (id, tenant_id, workflow_id, execution_id, step_index, subject, title,"
        " assignee, assign_to, due_date, priority) VALUES ($1, $2, $3, $4, 0, $5, 'Call Globex',"
        " 'owner@acme.test', 'account_owner', '2026-11-28', 'high')",
        ids["/api/tasks"],
        *origin,
        subject,
    )
    await pool.execute(
        "INSERT INTO activities (id, tenant_id, workflow_id, execution_id, step_index, subject,"
        " activity_type, title) VALUES ($1, $2, $3, $4, 1, $5, 'note', 'Deal won')",
        ids["/api/activities"],
        *origin,
        subject,
    )
    await pool.execute(
        "INSERT INTO notifications (id, tenant_id, workflow_id, execution_id, step_index, subject,"
        " recipient, message) VALUES ($1, $2, $3, $4, 2, $5, 'role:sales_manager', 'Won')",
        ids["/api/notifications"],
        *origin,
        subject,
    )
    await pool.execute(
        "INSERT INTO draft_offers (id, tenant_id, workflow_id, execution_id, step_index, subject,"
        " based_on, source_id, name, duration_months, discount_percent, base_value, value)"
        " VALUES ($1, $2, $3, $4, 3, $5, 'current_contract', 'ctr-9', 'Renewal', 12, 10, 100, 90)",
        ids["/api/draft-offers"],
        *origin,
        subject,
    )
    await pool.execute(
        "INSERT INTO assignments (id, tenant_id, workflow_id, execution_id, step_index, subject,"
        " assignee, assign_to) VALUES ($1, $2, $3, $4, 4, $5, 'owner@acme.test', 'account_owner')",
        ids["/api/assignments"],
        *origin,
        subject,
    )
    await pool.execute(
        "INSERT INTO tags (id, tenant_id, workflow_id, execution_id, step_index, subject, tag)"
        " VALUES ($1, $2, $3, $4, 5, $5, 'vip')",
        ids["/api/tags"],
        *origin,
        subject,
    )
    await pool.execute(
        "INSERT INTO records (id, tenant_id, record_type, record_key, fields)"
        " VALUES ($1, $2, 'deal', $3, '{\"stage\": \"closed_won\"}')",
        ids["/api/records"],
        tenant_id,
        subject,
    )
    await pool.execute(
        "INSERT INTO record_changes (execution_id, step_index, tenant_id, workflow_id, record_id,"
        " change, fields) VALUES ($1, 6, $2, $3, $4, 'updated', '{}')",
        execution_id,
        tenant_id,
        workflow_id,
        ids["/api/records"],
    )
    return ids
