"""The config API against real PostgreSQL and the real broker: CRUD, tenancy, the outbox."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from services.config_api.service import ConfigApiService
from services.config_api.settings import ConfigApiSettings
from shared.contracts import Topics, WorkflowChange
from shared.kafka import tenant_partition
from shared.postgres import Pool
from shared.settings import KafkaSettings, PostgresSettings
from tests.integration.config_api.support import WEBHOOK_WORKFLOW, Client, key_for

pytestmark = pytest.mark.integration


async def test_create_then_get_and_list(api: ConfigApiService, pool: Pool, tenant_id: str) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    status, created = await client.request("POST", "/api/workflows", json=WEBHOOK_WORKFLOW)
    assert status == 201, created
    assert created["id"].startswith("wf_")
    assert (created["tenantId"], created["version"], created["status"], created["active"]) == (
        tenant_id,
        1,
        "active",
        True,
    )
    assert created["createdBy"].startswith("api-key:")

    status, fetched = await client.request("GET", f"/api/workflows/{created['id']}")
    assert status == 200
    assert fetched == created

    status, listed = await client.request("GET", "/api/workflows")
    assert status == 200
    assert [w["id"] for w in listed["items"]] == [created["id"]]


async def test_pagination_and_filters(api: ConfigApiService, pool: Pool, tenant_id: str) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    ids = []
    for index in range(5):
        body = {**WEBHOOK_WORKFLOW, "name": f"w{index}", "active": index % 2 == 0}
        ids.append((await client.request("POST", "/api/workflows", json=body))[1]["id"])
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = await client.request("GET", "/api/workflows" + query)
        assert status == 200
        seen += [w["id"] for w in page["items"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == ids
    _, paused = await client.request("GET", "/api/workflows?status=paused")
    assert [w["name"] for w in paused["items"]] == ["w1", "w3"]
    status, error = await client.request("GET", "/api/workflows?status=sleeping")
    assert status == 422
    assert error["error"]["details"][0]["path"] == "query.status"


async def test_tenants_never_see_each_other(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    mine = Client(api, await key_for(pool, tenant_id))
    theirs = Client(api, await key_for(pool, tenant_id + "-other"))
    _, created = await mine.request("POST", "/api/workflows", json=WEBHOOK_WORKFLOW)
    status, body = await theirs.request("GET", f"/api/workflows/{created['id']}")
    assert status == 404
    assert body["error"]["code"] == "not_found"
    _, listed = await theirs.request("GET", "/api/workflows")
    assert listed["items"] == []


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({**WEBHOOK_WORKFLOW, "trigger": "offer.nope"}, "$.trigger"),
        (
            {**WEBHOOK_WORKFLOW, "actions": [{"type": "webhook", "url": "not a url"}]},
            "$.actions[0].webhook.url",
        ),
        ({**WEBHOOK_WORKFLOW, "actions": []}, "$.actions"),
        (
            {**WEBHOOK_WORKFLOW, "trigger": "schedule.cron", "schedule": {"cron": "61 * * * *"}},
            "$.schedule.cron",
        ),
    ],
)
async def test_invalid_definitions_get_422_naming_the_path(
    api: ConfigApiService, pool: Pool, tenant_id: str, body: dict[str, Any], path: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    status, error = await client.request("POST", "/api/workflows", json=body)
    assert status == 422, error
    assert path in [d["path"] for d in error["error"]["details"]]


async def test_auth_errors(api: ConfigApiService, pool: Pool, tenant_id: str) -> None:
    status, body = await Client(api, "wrong").request("GET", "/api/workflows")
    assert (status, body["error"]["code"]) == (401, "unauthorized")
    reader = Client(api, await key_for(pool, tenant_id, role="read-only"))
    assert (await reader.request("GET", "/api/workflows"))[0] == 200
    status, body = await reader.request("POST", "/api/workflows", json=WEBHOOK_WORKFLOW)
    assert (status, body["error"]["code"]) == (403, "forbidden")
    writer = Client(api, await key_for(pool, tenant_id))
    status, body = await writer.request("POST", "/api/workflows", data=b"{nope")
    assert (status, body["error"]["code"]) == (400, "invalid_json")


async def test_every_change_reaches_the_changelog_on_the_tenants_partition(
    api: ConfigApiService, pool: Pool, tenant_id: str, kafka_settings: KafkaSettings
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    _, created = await client.request("POST", "/api/workflows", json=WEBHOOK_WORKFLOW)

    consumer = AIOKafkaConsumer(
        Topics(kafka_settings.topic_prefix).workflows_changelog,
        bootstrap_servers=kafka_settings.bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        async with asyncio.timeout(20):
            records = []
            while not records:
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    # Other tests' tenants share the database; a new topic is refilled with theirs.
                    records.extend(
                        r for r in batch if r.key and r.key.startswith(tenant_id.encode() + b"/")
                    )
    finally:
        await consumer.stop()
    [record] = records
    change = WorkflowChange.model_validate_json(record.value)
    assert record.key == f"{tenant_id}/{created['id']}".encode()
    assert record.partition == tenant_partition(tenant_id, kafka_settings.topic_partitions)
    assert (change.workflow_id, change.version) == (created["id"], 1)
    assert change.workflow is not None
    assert change.workflow.status == "active"
    async with asyncio.timeout(10):
        while await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE key LIKE $1", f"{tenant_id}/%"
        ):
            await asyncio.sleep(0.05)


async def test_an_empty_changelog_is_refilled_from_the_database(
    pool: Pool,
    tenant_id: str,
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
) -> None:
    """A broker that lost its state (or a new one) gets every current workflow again."""
    first = ConfigApiService(
        ConfigApiSettings(
            host="127.0.0.1", port=0, kafka=kafka_settings, postgres=postgres_settings
        )
    )
    async with first:
        client = Client(first, await key_for(pool, tenant_id))
        _, created = await client.request("POST", "/api/workflows", json=WEBHOOK_WORKFLOW)

    fresh_broker_view = kafka_settings.model_copy(
        update={"topic_prefix": "fresh." + kafka_settings.topic_prefix}
    )
    second = ConfigApiService(
        ConfigApiSettings(
            host="127.0.0.1", port=0, kafka=fresh_broker_view, postgres=postgres_settings
        )
    )
    async with second:
        consumer = AIOKafkaConsumer(
            Topics(fresh_broker_view.topic_prefix).workflows_changelog,
            bootstrap_servers=kafka_settings.bootstrap_servers,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=50,
        )
        await consumer.start()
        keys: set[bytes] = set()
        try:
            async with asyncio.timeout(20):
                while f"{tenant_id}/{created['id']}".encode() not in keys:
                    for batch in (await consumer.getmany(timeout_ms=200)).values():
                        keys.update(r.key for r in batch if r.key is not None)
        finally:
            await consumer.stop()
