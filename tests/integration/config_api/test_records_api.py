"""The product's records through the API (read from the executor's published views), and what the
API answers while the executor has not published them yet."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr

from services.config_api.service import ConfigApiService
from services.config_api.settings import ConfigApiSettings
from shared.postgres import Pool, apply_migrations, create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import throwaway_database
from tests.integration.config_api.support import Client, insert_product_records, key_for

pytestmark = pytest.mark.integration


@pytest.fixture
async def executor_views(pool: Pool) -> None:
    # By package name: the config API's tests must not import the executor.
    await apply_migrations(pool, owner="executor", package="services.executor")


@pytest.mark.usefixtures("executor_views")
async def test_each_kind_of_record_is_listed_filtered_and_got(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    ids = await insert_product_records(pool, tenant_id, "wf_a", f"exe_{uuid.uuid4().hex}")
    other = await insert_product_records(
        pool, tenant_id, "wf_b", f"exe_{uuid.uuid4().hex}", subject="acct-2"
    )

    for path, record_id in ids.items():
        status, page = await client.request("GET", path)
        assert status == 200, (path, page)
        assert {item["id"] for item in page["items"]} == {record_id, other[path]}, path
        status, record = await client.request("GET", f"{path}/{record_id}")
        assert (status, record["id"]) == (200, record_id), path

    status, task = await client.request("GET", f"/api/tasks/{ids['/api/tasks']}")
    assert task == {
        "id": ids["/api/tasks"],
        "workflowId": "wf_a",
        "executionId": task["executionId"],
        "stepIndex": 0,
        "itemIndex": 0,
        "subject": "acct-1",
        "title": "Call Globex",
        "description": None,
        "assignee": "owner@acme.test",
        "assignTo": "account_owner",
        "dueDate": "2026-11-28",
        "priority": "high",
        "project": None,
        "status": "open",
        "createdAt": task["createdAt"],
    }
    _, record = await client.request("GET", f"/api/records/{ids['/api/records']}")
    assert (record["recordType"], record["fields"], record["lastWorkflowId"]) == (
        "deal",
        {"stage": "closed_won"},
        "wf_a",
    )

    _, page = await client.request("GET", "/api/tasks?workflowId=wf_b")
    assert [item["id"] for item in page["items"]] == [other["/api/tasks"]]
    _, page = await client.request("GET", "/api/tags?subject=acct-1&tag=vip")
    assert [item["id"] for item in page["items"]] == [ids["/api/tags"]]
    _, page = await client.request("GET", "/api/records?recordType=deal&recordKey=acct-2")
    assert [item["id"] for item in page["items"]] == [other["/api/records"]]
    status, error = await client.request("GET", "/api/tasks?priority=whenever")
    assert (status, error["error"]["details"][0]["path"]) == (422, "query.priority")

    _, first = await client.request("GET", "/api/notifications?limit=1")
    _, second = await client.request(
        "GET", f"/api/notifications?limit=1&cursor={first['nextCursor']}"
    )
    assert len(first["items"]) == len(second["items"]) == 1
    assert first["items"][0]["id"] != second["items"][0]["id"]
    assert second["nextCursor"] is None


@pytest.fixture
async def bare_database(postgres_server_url: str) -> AsyncIterator[str]:
    """A database where only the config API has migrated (the executor never ran)."""
    async with throwaway_database(postgres_server_url, "wf_bare_") as url:
        yield url


async def test_history_and_records_are_a_503_until_the_executor_has_published_them(
    bare_database: str, kafka_settings: KafkaSettings, tenant_id: str
) -> None:
    postgres = PostgresSettings(database_url=SecretStr(bare_database), db_pool_max_size=2)
    service = ConfigApiService(
        ConfigApiSettings(host="127.0.0.1", port=0, kafka=kafka_settings, postgres=postgres)
    )
    await service.start()
    pool = await create_pool(postgres, application_name="tests")
    try:
        client = Client(service, await key_for(pool, tenant_id))
        workflow = await client.create()
        for path in (
            f"/api/workflows/{workflow['id']}/executions",
            "/api/executions/exe_1",
            "/api/tasks",
            "/api/records/rec_1",
        ):
            reply = await client.call("GET", path)
            assert (reply.status, reply.body["error"]["code"]) == (503, "not_published"), path
            assert "executor has not published" in reply.body["error"]["message"]
            assert reply.headers["Retry-After"] == "5"
        # Everything the config API owns works meanwhile.
        assert (await client.call("GET", f"/api/workflows/{workflow['id']}")).status == 200
    finally:
        await pool.close()
        await service.stop()
