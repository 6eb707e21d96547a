"""Execution history, read through the executor's published views (rows inserted here as the
executor would)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jsonschema
import pytest

from services.config_api.adapters.http.openapi import openapi_document
from services.config_api.service import ConfigApiService
from shared.postgres import Pool, apply_migrations
from tests.integration.config_api.support import Client, key_for

pytestmark = pytest.mark.integration

# A fixed hour of yesterday: inside every retention window, whatever today's date.
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
async def executor_tables(pool: Pool) -> None:
    # By package name: the config API's tests must not import the executor.
    await apply_migrations(pool, owner="executor", package="services.executor")


async def insert_execution(
    pool: Pool,
    tenant_id: str,
    workflow_id: str,
    *,
    minutes: int,
    status: str = "succeeded",
    steps: int = 0,
) -> str:
    execution_id = f"exe_{uuid.uuid4().hex}"
    created = T0 + timedelta(minutes=minutes)
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"evt_{minutes}",
        "type": "private_offer.accepted",
        "source": "native",
        "tenantid": tenant_id,
        "data": {"customerName": "Globex", "value": 150000},
    }
    error = {"code": "webhook_rejected", "message": "410"} if status == "failed" else None
    await pool.execute(
        "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type,"
        " event, status, error, created_at, finished_at)"
        " VALUES ($1, $2, $3, 1, 'private_offer.accepted', $4, $5, $6, $7, $8)",
        execution_id,
        tenant_id,
        workflow_id,
        event,
        status,
        error,
        created,
        None if status == "running" else created + timedelta(seconds=2),
    )
    # Inserted out of order: the API orders by step index, not by insertion.
    for index in reversed(range(steps)):
        await pool.execute(
            "INSERT INTO execution_steps (execution_id, step_index, tenant_id, action_type, status,"
            " attempts, request, response_status, started_at, finished_at)"
            " VALUES ($1, $2, $3, 'webhook', 'succeeded', 1, $4, 200, $5, $5)",
            execution_id,
            index,
            tenant_id,
            {"method": "POST", "url": f"https://hooks.example.com/{index}"},
            created + timedelta(seconds=index),
        )
    return execution_id


@pytest.mark.usefixtures("executor_tables")
async def test_history_newest_first_filtered_and_paginated(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create()
    statuses = ["succeeded", "failed", "succeeded", "running", "failed"]
    ids = [
        await insert_execution(pool, tenant_id, workflow["id"], minutes=n, status=status)
        for n, status in enumerate(statuses)
    ]
    other = await client.create()
    await insert_execution(pool, tenant_id, other["id"], minutes=9)
    path = f"/api/workflows/{workflow['id']}/executions"

    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = await client.request("GET", path + query)
        assert status == 200, page
        seen += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [e["id"] for e in seen] == ids[::-1]
    newest = seen[0]
    assert (newest["status"], newest["workflowVersion"], newest["trigger"]) == (
        "failed",
        1,
        "private_offer.accepted",
    )
    assert newest["error"] == {"code": "webhook_rejected", "message": "410"}
    assert newest["event"]["data"]["customerName"] == "Globex"
    assert "steps" not in newest

    status, failed = await client.request("GET", path + "?status=failed")
    assert [e["id"] for e in failed["items"]] == [ids[4], ids[1]]
    status, error = await client.request("GET", path + "?status=exploded")
    assert (status, error["error"]["details"][0]["path"]) == (422, "query.status")
    assert (await client.request("GET", "/api/workflows/wf_unknown/executions"))[0] == 404


@pytest.mark.usefixtures("executor_tables")
async def test_one_execution_with_its_steps_in_order(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create()
    execution_id = await insert_execution(pool, tenant_id, workflow["id"], minutes=1, steps=3)

    status, execution = await client.request("GET", f"/api/executions/{execution_id}")
    assert status == 200, execution
    assert execution["id"] == execution_id
    assert [s["stepIndex"] for s in execution["steps"]] == [0, 1, 2]
    assert execution["steps"][2]["request"] == {
        "method": "POST",
        "url": "https://hooks.example.com/2",
    }
    assert (execution["steps"][0]["responseStatus"], execution["steps"][0]["attempts"]) == (200, 1)
    assert (await client.request("GET", "/api/executions/exe_unknown"))[0] == 404


@pytest.mark.usefixtures("executor_tables")
async def test_a_deleted_workflows_executions_stay_readable(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create()
    execution_id = await insert_execution(pool, tenant_id, workflow["id"], minutes=1, steps=1)
    assert (await client.request("DELETE", f"/api/workflows/{workflow['id']}"))[0] == 204

    status, page = await client.request("GET", f"/api/workflows/{workflow['id']}/executions")
    assert (status, [e["id"] for e in page["items"]]) == (200, [execution_id])
    status, execution = await client.request("GET", f"/api/executions/{execution_id}")
    assert (status, len(execution["steps"])) == (200, 1)
    # The version that ran is still there to read.
    status, version = await client.request("GET", f"/api/workflows/{workflow['id']}/versions/1")
    assert (status, version["definition"]["name"]) == (200, workflow["name"])


@pytest.mark.usefixtures("executor_tables")
async def test_another_tenants_executions_are_not_found(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    mine = Client(api, await key_for(pool, tenant_id))
    theirs = Client(api, await key_for(pool, tenant_id + "-other"))
    workflow = await mine.create()
    execution_id = await insert_execution(pool, tenant_id, workflow["id"], minutes=1, steps=1)

    status, error = await theirs.request("GET", f"/api/executions/{execution_id}")
    assert (status, error["error"]["code"]) == (404, "not_found")
    status, _ = await theirs.request("GET", f"/api/workflows/{workflow['id']}/executions")
    assert status == 404
    # Even rows the other tenant wrote under this workflow id stay the other tenant's.
    await insert_execution(pool, tenant_id + "-other", workflow["id"], minutes=2)
    _, page = await mine.request("GET", f"/api/workflows/{workflow['id']}/executions")
    assert [e["id"] for e in page["items"]] == [execution_id]


@pytest.mark.usefixtures("executor_tables")
async def test_the_engines_statuses_and_columns_show_in_the_history(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    """What the executor's migration 007 publishes: the event that ended an exited execution,
    when notifyOnFailure was told, SPEC §5's statuses, waiting steps; as the OpenAPI says."""
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create()
    exited = await insert_execution(pool, tenant_id, workflow["id"], minutes=1, steps=1)
    went_on = await insert_execution(pool, tenant_id, workflow["id"], minutes=2)
    plain = await insert_execution(pool, tenant_id, workflow["id"], minutes=3)
    notified = T0 + timedelta(minutes=2, seconds=3)
    await pool.execute(
        "UPDATE executions SET status = 'exited', exited_by_event = 'evt-late' WHERE id = $1",
        exited,
    )
    await pool.execute(
        "UPDATE execution_steps SET status = 'waiting' WHERE execution_id = $1", exited
    )
    await pool.execute(
        "UPDATE executions SET status = 'succeeded_with_errors', notified_at = $2,"
        ' error = \'{"code": "steps_failed", "failedSteps": [0]}\' WHERE id = $1',
        went_on,
        notified,
    )
    path = f"/api/workflows/{workflow['id']}/executions"

    status, page = await client.request("GET", path)
    assert status == 200, page
    shown = {e["id"]: e for e in page["items"]}
    assert (shown[exited]["status"], shown[exited]["exitedByEvent"]) == ("exited", "evt-late")
    assert shown[went_on]["status"] == "succeeded_with_errors"
    assert datetime.fromisoformat(shown[went_on]["notifiedAt"]) == notified
    assert (shown[plain]["exitedByEvent"], shown[plain]["notifiedAt"]) == (None, None)
    for wanted, ids in (("exited", [exited]), ("succeeded_with_errors", [went_on])):
        status, filtered = await client.request("GET", f"{path}?status={wanted}")
        assert (status, [e["id"] for e in filtered["items"]]) == (200, ids)

    status, execution = await client.request("GET", f"/api/executions/{exited}")
    assert (status, execution["steps"][0]["status"]) == (200, "waiting")
    document = openapi_document(page_size_max=200)
    for name, shown_body in (("ExecutionPage", page), ("ExecutionWithSteps", execution)):
        schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
        jsonschema.validate(shown_body, schema, cls=jsonschema.Draft202012Validator)
