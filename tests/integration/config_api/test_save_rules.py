"""Saving a workflow the deployment or the tenant's other workflows forbid is a 422 naming why:
a private destination, a record field outside the whitelist, a trigger_workflow cycle."""

from __future__ import annotations

from typing import Any

import pytest

from services.config_api.service import ConfigApiService
from shared.postgres import Pool
from tests.integration.config_api.support import Client, key_for

pytestmark = pytest.mark.integration


def chained(name: str, target: str, *, active: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "trigger": "workflow.triggered",
        "actions": [{"type": "trigger_workflow", "workflowId": target, "passData": True}],
        "active": active,
    }


async def test_private_destinations_and_unlisted_record_fields_are_422s(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    status, error = await client.request(
        "POST",
        "/api/workflows",
        json={
            "name": "metadata grab",
            "trigger": "private_offer.accepted",
            "actions": [
                {"type": "call_api", "method": "GET", "url": "http://0xa9fea9fe/latest/meta-data"},
                {"type": "update_record", "recordType": "deal", "mapping": {"ownerId": "me"}},
            ],
        },
    )
    assert status == 422, error
    assert [d["path"] for d in error["error"]["details"]] == [
        "$.actions[0].call_api.url",
        "$.actions[1].update_record.mapping.ownerId",
    ]
    workflow = await client.create()
    status, error = await client.request(
        "PUT",
        f"/api/workflows/{workflow['id']}",
        json={"actions": [{"type": "webhook", "url": "http://[::1]/hook"}]},
    )
    assert (status, error["error"]["details"][0]["path"]) == (422, "$.actions[0].webhook.url")


async def test_activating_a_workflow_that_closes_a_chain_cycle_is_a_422_naming_it(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    first = await client.create(chained("first", "wf_placeholder"))
    second = await client.create(chained("second", first["id"]))
    # first → second closes first → second → first; as a draft it is accepted.
    status, draft = await client.request(
        "PUT",
        f"/api/workflows/{first['id']}",
        json={
            "actions": [{"type": "trigger_workflow", "workflowId": second["id"]}],
            "active": False,
        },
    )
    assert status == 200, draft
    status, error = await client.request(
        "PUT", f"/api/workflows/{first['id']}", json={"active": True}
    )
    assert status == 422, error
    [detail] = error["error"]["details"]
    assert detail["path"] == "$.actions[0].trigger_workflow.workflowId"
    assert detail["message"].endswith(f"{first['id']} → {second['id']} → {first['id']}")
    # Pausing the other end breaks the cycle: then it may be activated.
    assert (await client.request("PUT", f"/api/workflows/{second['id']}", json={"active": False}))[
        0
    ] == 200
    assert (await client.request("PUT", f"/api/workflows/{first['id']}", json={"active": True}))[
        0
    ] == 200
    # ... and now the other end cannot come back.
    status, error = await client.request(
        "PUT", f"/api/workflows/{second['id']}", json={"active": True}
    )
    assert status == 422, error
