"""POST /api/workflows/{id}/test: seed 000's dry run, against the real service and database."""

from __future__ import annotations

from typing import Any

import pytest

from services.config_api.service import ConfigApiService
from shared.postgres import Pool
from tests.integration.config_api.support import Client, key_for
from tests.unit.workflows.test_seed_examples import HIGH_VALUE_DEAL_ALERT

pytestmark = pytest.mark.integration


SEED_DRY_RUN = {
    "dryRun": True,
    "testData": {"customerName": "Test Company", "value": 150000, "vendor": "aws"},
}


async def created(client: Client) -> dict[str, Any]:
    status, workflow = await client.request(
        "POST",
        "/api/workflows",
        data=HIGH_VALUE_DEAL_ALERT,
        headers={"Content-Type": "application/json"},
    )
    assert status == 201, workflow
    return workflow  # type: ignore[no-any-return]


async def test_the_seed_dry_run_shows_conditions_and_rendered_actions(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await created(client)

    status, result = await client.request(
        "POST", f"/api/workflows/{workflow['id']}/test", json=SEED_DRY_RUN
    )

    assert status == 200, result
    assert (result["dryRun"], result["executed"], result["wouldRun"]) == (True, False, True)
    assert [
        (r["path"], r["field"], r["actual"], r["result"]) for r in result["conditions"]["rules"]
    ] == [
        ("$.conditions.rules[0]", "value", 150000, True),
        ("$.conditions.rules[1]", "vendor", "aws", True),
    ]
    slack, email, salesforce = result["actions"]
    assert slack["rendered"]["message"] == "🎉 Big Win! Test Company - $150000"
    assert email["rendered"]["to"] == ["sales-leadership@company.com"]
    assert salesforce["rendered"]["mapping"] == {
        "Name": "Test Company - ",
        "Amount": 150000,  # one placeholder keeps its type, as the executor sends it
        "StageName": "Closed Won",
    }
    assert salesforce["missingVariables"] == ["productName"]
    assert result["missingVariables"] == ["productName"]
    assert all(action["wouldRun"] for action in result["actions"])


async def test_failing_conditions_say_the_workflow_would_not_run(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await created(client)
    body = {"testData": {"value": 99, "vendor": "azure"}}

    status, result = await client.request(
        "POST", f"/api/workflows/{workflow['id']}/test", json=body
    )

    assert status == 200
    assert result["wouldRun"] is False
    assert [r["result"] for r in result["conditions"]["rules"]] == [False, False]
    assert not any(action["wouldRun"] for action in result["actions"])


async def test_a_read_only_key_may_dry_run_and_nothing_is_executed(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    writer = Client(api, await key_for(pool, tenant_id))
    workflow = await created(writer)
    reader = Client(api, await key_for(pool, tenant_id, role="read-only"))

    status, _ = await reader.request(
        "POST", f"/api/workflows/{workflow['id']}/test", json=SEED_DRY_RUN
    )

    assert status == 200
    _, versions = await writer.request("GET", f"/api/workflows/{workflow['id']}/versions")
    _, audit = await writer.request("GET", f"/api/audit?resourceId={workflow['id']}")
    assert len(versions["items"]) == 1
    assert [entry["action"] for entry in audit["items"]] == ["create"]


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"dryRun": False}, "$.dryRun"),
        ({"testData": [1, 2]}, "$.testData"),
        ({"testData": {}, "extra": 1}, "$.extra"),
    ],
)
async def test_invalid_dry_run_requests_name_the_field(
    api: ConfigApiService, pool: Pool, tenant_id: str, body: dict[str, Any], path: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await created(client)
    status, error = await client.request("POST", f"/api/workflows/{workflow['id']}/test", json=body)
    assert status == 422
    assert path in [d["path"] for d in error["error"]["details"]]


async def test_another_tenants_workflow_is_not_found(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    mine = Client(api, await key_for(pool, tenant_id))
    workflow = await created(mine)
    theirs = Client(api, await key_for(pool, tenant_id + "-x"))
    status, _ = await theirs.request(
        "POST", f"/api/workflows/{workflow['id']}/test", json=SEED_DRY_RUN
    )
    assert status == 404
