"""Inbound hook tokens of webhook.received workflows: issued once, rotated, hashed, per tenant."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from services.config_api.service import ConfigApiService
from shared.postgres import Pool
from tests.integration.config_api.support import WEBHOOK_WORKFLOW, Client, key_for

pytestmark = pytest.mark.integration

HOOK_WORKFLOW: dict[str, Any] = {
    "name": "Form submissions to the CRM bridge",
    "trigger": "webhook.received",
    "actions": [{"type": "webhook", "url": "https://hooks.example.com/forms"}],
    "active": True,
}


def token_path(workflow: dict[str, Any]) -> str:
    return f"/api/workflows/{workflow['id']}/hook-token"


async def published_hooks(pool: Pool, tenant_id: str) -> list[tuple[str, bytes]]:
    rows = await pool.fetch(
        "SELECT workflow_id, token_hash FROM config_api_published.workflow_hooks "
        "WHERE tenant_id = $1",
        tenant_id,
    )
    return [(row["workflow_id"], bytes(row["token_hash"])) for row in rows]


async def test_a_token_is_shown_once_stored_hashed_and_rotation_replaces_it(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create(HOOK_WORKFLOW)
    status, shown = await client.request("GET", f"/api/workflows/{workflow['id']}")
    assert (status, shown["hook"]) == (200, {"exists": False})
    assert "hook" not in workflow, "only GET looks the hook up"

    reply = await client.call("POST", token_path(workflow))
    assert reply.status == 201, reply.body
    first = reply.body
    token = first["token"]
    assert token.startswith("wfh_")
    assert len(token) == 4 + 43, "32 random bytes, URL-safe base64"
    assert first["path"] == f"/v1/hooks/{tenant_id}/{token}"
    assert first["url"] == "http://127.0.0.1:8081" + first["path"]
    assert (first["workflowId"], first["rotated"], first["exists"]) == (workflow["id"], False, True)
    assert first["tokenPrefix"] == token[:8]
    assert reply.headers["Cache-Control"] == "no-store"
    assert await published_hooks(pool, tenant_id) == [
        (workflow["id"], hashlib.sha256(token.encode()).digest())
    ]
    stored = await pool.fetchrow(
        "SELECT * FROM workflow_hooks WHERE workflow_id = $1", workflow["id"]
    )
    assert stored is not None
    assert token not in json.dumps({k: str(v) for k, v in dict(stored).items()})

    status, shown = await client.request("GET", f"/api/workflows/{workflow['id']}")
    assert status == 200
    assert shown["hook"] == {
        "exists": True,
        "tokenPrefix": token[:8],
        "createdAt": first["createdAt"],
        "rotatedAt": first["rotatedAt"],
    }
    assert token not in json.dumps(shown)

    status, second = await client.request("POST", token_path(workflow))
    assert (status, second["rotated"]) == (201, True)
    assert second["token"] != token
    assert second["createdAt"] == first["createdAt"]
    assert second["rotatedAt"] > first["rotatedAt"]
    assert await published_hooks(pool, tenant_id) == [
        (workflow["id"], hashlib.sha256(second["token"].encode()).digest())
    ], "one token per workflow: the old one is gone"

    status, audit = await client.request("GET", "/api/audit?resourceType=workflow_hook")
    assert status == 200
    assert [(e["action"], e["resourceId"]) for e in audit["items"]] == [
        ("rotate", workflow["id"]),
        ("create", workflow["id"]),
    ]
    assert audit["items"][0]["before"]["tokenPrefix"] == token[:8]
    assert audit["items"][0]["after"]["tokenPrefix"] == second["token"][:8]
    assert token not in json.dumps(audit)
    assert second["token"] not in json.dumps(audit)


async def test_a_get_sent_back_as_an_update_ignores_the_hook(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create(HOOK_WORKFLOW)
    await client.request("POST", token_path(workflow))
    _, shown = await client.request("GET", f"/api/workflows/{workflow['id']}")

    status, updated = await client.request(
        "PUT", f"/api/workflows/{workflow['id']}", json={**shown, "name": "Renamed"}
    )
    assert (status, updated["name"]) == (200, "Renamed"), updated


async def test_only_a_webhook_received_workflow_has_a_hook_and_only_while_it_keeps_the_trigger(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    offers = await client.create(WEBHOOK_WORKFLOW)
    status, shown = await client.request("GET", f"/api/workflows/{offers['id']}")
    assert status == 200
    assert "hook" not in shown

    status, error = await client.request("POST", token_path(offers))
    assert (status, error["error"]["code"]) == (409, "not_a_webhook_trigger")
    assert error["error"]["details"][0]["path"] == "$.trigger"

    hooked = await client.create(HOOK_WORKFLOW)
    await client.request("POST", token_path(hooked))
    status, _ = await client.request(
        "PUT", f"/api/workflows/{hooked['id']}", json={"trigger": "private_offer.accepted"}
    )
    assert status == 200
    assert await published_hooks(pool, tenant_id) == [], "its events would fire nothing"
    await client.request(
        "PUT", f"/api/workflows/{hooked['id']}", json={"trigger": "webhook.received"}
    )
    assert [w for w, _ in await published_hooks(pool, tenant_id)] == [hooked["id"]]

    status, _ = await client.request("DELETE", f"/api/workflows/{hooked['id']}")
    assert status == 204
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM workflow_hooks WHERE workflow_id = $1", hooked["id"]
        )
        == 0
    )


async def test_another_tenant_cannot_see_issue_or_rotate_a_hook(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    owner = Client(api, await key_for(pool, tenant_id))
    workflow = await owner.create(HOOK_WORKFLOW)
    status, issued = await owner.request("POST", token_path(workflow))
    assert status == 201
    intruder = Client(api, await key_for(pool, f"{tenant_id}-other"))

    status, error = await intruder.request("POST", token_path(workflow))
    assert (status, error["error"]["code"]) == (404, "not_found")
    status, _ = await intruder.request("GET", f"/api/workflows/{workflow['id']}")
    assert status == 404
    status, missing = await owner.request("POST", "/api/workflows/wf_nonexistent/hook-token")
    assert (status, missing) == (404, error), "another tenant's workflow looks like no workflow"
    assert await published_hooks(pool, tenant_id) == [
        (workflow["id"], hashlib.sha256(issued["token"].encode()).digest())
    ], "the owner's token still works"
    assert await published_hooks(pool, f"{tenant_id}-other") == []


async def test_a_read_only_key_cannot_issue_a_token(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    writer = Client(api, await key_for(pool, tenant_id))
    workflow = await writer.create(HOOK_WORKFLOW)
    reader = Client(api, await key_for(pool, tenant_id, role="read-only"))

    status, error = await reader.request("POST", token_path(workflow))
    assert (status, error["error"]["code"]) == (403, "forbidden")
    status, shown = await reader.request("GET", f"/api/workflows/{workflow['id']}")
    assert (status, shown["hook"]) == (200, {"exists": False})
