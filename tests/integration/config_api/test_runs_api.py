"""The runs page across workflows (GET /api/executions) and a workflow's stats strip
(GET /api/workflows/{id}/stats), read through the executor's published views (rows inserted here
as the executor would)."""

from __future__ import annotations

import statistics
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest

from services.config_api.adapters.http.openapi import openapi_document
from services.config_api.service import ConfigApiService
from shared.postgres import Pool, apply_migrations
from tests.integration.config_api.support import WEBHOOK_WORKFLOW, Client, key_for

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("executor_tables")]

# A fixed hour of yesterday: inside every retention window, whatever today's date.
T0 = (datetime.now(UTC) - timedelta(days=1)).replace(minute=0, second=0, microsecond=0)


@pytest.fixture
async def executor_tables(pool: Pool) -> None:
    # By package name: the config API's tests must not import the executor.
    await apply_migrations(pool, owner="executor", package="services.executor")


async def insert(
    pool: Pool,
    tenant_id: str,
    workflow_id: str,
    *,
    at: datetime,
    status: str = "succeeded",
    seconds: float = 2.0,
    trigger: str = "private_offer.accepted",
    failed_steps: tuple[int, ...] = (),
) -> str:
    execution_id = f"exe_{uuid.uuid4().hex}"
    error: dict[str, Any] | None = None
    if status == "failed":
        error = {"code": "webhook_rejected", "message": "410", "step": 1}
    elif status == "succeeded_with_errors":
        error = {"code": "steps_failed", "message": "went on", "failedSteps": list(failed_steps)}
    await pool.execute(
        "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type,"
        " event, status, error, created_at, finished_at)"
        " VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9)",
        execution_id,
        tenant_id,
        workflow_id,
        trigger,
        {"id": "evt", "type": trigger, "data": {}},
        status,
        error,
        at,
        None if status in ("running", "waiting") else at + timedelta(seconds=seconds),
    )
    for index in failed_steps:
        await pool.execute(
            "INSERT INTO execution_steps (execution_id, step_index, tenant_id, action_type,"
            " status, attempts, error, started_at, finished_at)"
            " VALUES ($1, $2, $3, 'slack', 'failed', 1, $4, $5, $5)",
            execution_id,
            index,
            tenant_id,
            {"code": "channel_not_found", "message": f"step {index}"},
            at,
        )
    return execution_id


def conforms(body: Any, schema_name: str) -> None:
    document = openapi_document(200)
    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": document["components"]}
    jsonschema.validate(body, schema, cls=jsonschema.Draft202012Validator)


async def all_pages(client: Client, path: str) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    separator = "&" if "?" in path else "?"
    while True:
        status, page = await client.request(
            "GET", path + f"{separator}limit=2" + (f"&cursor={cursor}" if cursor else "")
        )
        assert status == 200, page
        conforms(page, "RunPage")
        seen += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            return seen


async def test_runs_across_workflows_newest_first_with_names_durations_and_first_errors(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    alerts = await client.create({**WEBHOOK_WORKFLOW, "name": "Deal alerts"})
    renewals = await client.create(
        {**WEBHOOK_WORKFLOW, "name": "Renewals", "trigger": "contract.renewed"}
    )
    first = await insert(pool, tenant_id, alerts["id"], at=T0, seconds=1.5)
    went_on = await insert(
        pool,
        tenant_id,
        renewals["id"],
        at=T0 + timedelta(minutes=1),
        status="succeeded_with_errors",
        trigger="contract.renewed",
        failed_steps=(2, 0),
    )
    failed = await insert(
        pool, tenant_id, alerts["id"], at=T0 + timedelta(minutes=2), status="failed"
    )
    running = await insert(
        pool, tenant_id, alerts["id"], at=T0 + timedelta(minutes=3), status="running"
    )
    renamed = {**WEBHOOK_WORKFLOW, "name": "Deal alerts (EMEA)"}
    assert (await client.request("PUT", f"/api/workflows/{alerts['id']}", json=renamed))[0] == 200

    rows = await all_pages(client, "/api/executions")
    assert [r["id"] for r in rows] == [running, failed, went_on, first]
    shown = {r["id"]: r for r in rows}
    assert shown[first]["workflowName"] == "Deal alerts (EMEA)", "the current name"
    assert (shown[first]["durationMs"], shown[first]["firstError"]) == (1500, None)
    assert shown[first]["startedAt"] == T0.isoformat()
    assert (shown[running]["durationMs"], shown[running]["finishedAt"]) == (None, None)
    assert shown[went_on]["firstError"] == {
        "code": "channel_not_found",
        "message": "step 0",
        "step": 0,
        "actionType": "slack",
    }
    assert shown[failed]["firstError"]["code"] == "webhook_rejected"
    assert shown[went_on]["trigger"] == "contract.renewed"

    async def ids(query: str) -> list[str]:
        return [r["id"] for r in await all_pages(client, "/api/executions?" + query)]

    assert await ids("status=failed") == [failed]
    assert await ids(f"workflow={alerts['id']}") == [running, failed, first]
    assert await ids("trigger=contract.renewed") == [went_on]
    since, until = (
        quote((T0 + timedelta(minutes=1)).isoformat()),
        quote((T0 + timedelta(minutes=3)).isoformat()),
    )
    assert await ids(f"from={since}&to={until}") == [failed, went_on]
    assert await ids(f"from={since}&workflow={alerts['id']}&status=running") == [running]

    # A deleted workflow's runs keep the name of the version that ran.
    assert (await client.request("DELETE", f"/api/workflows/{renewals['id']}"))[0] == 204
    rows = await all_pages(client, "/api/executions?trigger=contract.renewed")
    assert rows[0]["workflowName"] == "Renewals"


@pytest.mark.parametrize(
    ("query", "path"),
    [
        ("status=done", "query.status"),
        ("trigger=deal.closed", "query.trigger"),
        ("from=yesterday", "query.from"),
        ("to=2026-11-21T10:00:00", "query.to"),
        ("from=2026-11-22T00:00:00Z&to=2026-11-21T00:00:00Z", "query.to"),
        ("limit=0", "query.limit"),
        ("cursor=garbage!", "query.cursor"),
    ],
)
async def test_bad_run_filters_are_422s_naming_the_parameter(
    api: ConfigApiService, pool: Pool, tenant_id: str, query: str, path: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    status, error = await client.request("GET", "/api/executions?" + query)
    assert (status, error["error"]["details"][0]["path"]) == (422, path), error


async def test_another_tenants_runs_and_stats_stay_theirs(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    mine = Client(api, await key_for(pool, tenant_id))
    theirs = Client(api, await key_for(pool, tenant_id + "-other"))
    workflow = await mine.create()
    own = await insert(pool, tenant_id, workflow["id"], at=datetime.now(UTC) - timedelta(hours=1))
    # Rows of the other tenant under the same workflow id stay the other tenant's.
    await insert(pool, tenant_id + "-other", workflow["id"], at=datetime.now(UTC))

    status, page = await theirs.request("GET", f"/api/executions?workflow={workflow['id']}")
    assert (status, len(page["items"])) == (200, 1)
    assert page["items"][0]["id"] != own
    status, error = await theirs.request("GET", f"/api/workflows/{workflow['id']}/stats")
    assert (status, error["error"]["code"]) == (404, "not_found")
    status, page = await mine.request("GET", "/api/executions")
    assert [r["id"] for r in page["items"]] == [own]
    status, stats = await mine.request("GET", f"/api/workflows/{workflow['id']}/stats")
    assert (status, stats["runs"], stats["lastRun"]["id"]) == (200, 1, own)


async def test_stats_of_a_window(api: ConfigApiService, pool: Pool, tenant_id: str) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create()
    other = await client.create()
    now = datetime.now(UTC)
    durations = [1.0, 2.0, 3.0, 4.0, 10.0]
    for index, seconds in enumerate(durations):
        await insert(
            pool, tenant_id, workflow["id"], at=now - timedelta(hours=2 + index), seconds=seconds
        )
    await insert(
        pool, tenant_id, workflow["id"], at=now - timedelta(hours=3), status="failed", seconds=6
    )
    for _ in range(3):
        await insert(
            pool, tenant_id, workflow["id"], at=now - timedelta(hours=4), status="throttled"
        )
    await insert(pool, tenant_id, workflow["id"], at=now - timedelta(minutes=5), status="waiting")
    await insert(pool, tenant_id, workflow["id"], at=now - timedelta(days=3), status="failed")
    latest = await insert(
        pool, tenant_id, workflow["id"], at=now - timedelta(minutes=1), status="running"
    )
    await insert(pool, tenant_id, other["id"], at=now - timedelta(hours=1))
    path = f"/api/workflows/{workflow['id']}/stats"

    status, day = await client.request("GET", path)
    assert status == 200, day
    conforms(day, "WorkflowStats")
    completed = [*durations, 6.0]
    assert day["window"] == "24h"
    assert (day["runs"], day["failed"], day["throttled"]) == (11, 1, 3)
    assert day["successRate"] == pytest.approx(5 / 6)
    assert day["durationMs"]["median"] == pytest.approx(statistics.median(completed) * 1000)
    # percentile_cont: linear interpolation between the closest ranks.
    assert day["durationMs"]["p95"] == pytest.approx(
        statistics.quantiles(completed, n=20, method="inclusive")[-1] * 1000
    )
    assert day["byStatus"] == {
        "running": 1,
        "waiting": 1,
        "succeeded": 5,
        "succeeded_with_errors": 0,
        "failed": 1,
        "throttled": 3,
        "exited": 0,
    }
    assert (day["lastRun"]["id"], day["lastRun"]["status"]) == (latest, "running")

    status, week = await client.request("GET", path + "?window=7d")
    assert (status, week["runs"], week["failed"]) == (200, 12, 2)
    status, empty = await client.request(
        "GET", f"/api/workflows/{(await client.create())['id']}/stats?window=30d"
    )
    assert status == 200
    assert (empty["runs"], empty["successRate"], empty["lastRun"]) == (0, None, None)
    assert empty["durationMs"] == {"median": None, "p95": None}
    status, error = await client.request("GET", path + "?window=1y")
    assert (status, error["error"]["details"][0]["path"]) == (422, "query.window")
    assert (await client.request("GET", "/api/workflows/wf_unknown/stats"))[0] == 404
