"""Changing workflows: partial update, optimistic concurrency, delete, duplicate, versions, restore,
and the changelog records each change reaches the matcher with."""

from __future__ import annotations

import asyncio

import pytest

from services.config_api import handlers
from services.config_api.adapters.postgres import PostgresWorkflowRepository
from services.config_api.domain import SavePolicy
from services.config_api.service import ConfigApiService, migrate
from services.config_api.settings import ConfigApiSettings
from shared.postgres import Pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.tenancy import Principal
from tests.integration.config_api.support import (
    WEBHOOK_WORKFLOW,
    Client,
    changelog_of,
    key_for,
)

pytestmark = pytest.mark.integration


async def test_active_false_alone_switches_a_workflow_off(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create()
    path = f"/api/workflows/{created['id']}"

    reply = await client.call("PUT", path, json={"active": False})
    assert reply.status == 200, reply.body
    assert (reply.body["active"], reply.body["status"], reply.body["version"]) == (
        False,
        "paused",
        2,
    )
    assert reply.headers["ETag"] == '"2"'
    # Everything not in the patch stayed as it was.
    assert {k: reply.body[k] for k in ("name", "trigger", "actions", "createdAt", "id")} == {
        k: created[k] for k in ("name", "trigger", "actions", "createdAt", "id")
    }

    status, body = await client.request("PUT", path, json={"status": "active"})
    assert (status, body["active"], body["version"]) == (200, True, 3)
    status, body = await client.request("PUT", path, json={"name": "Renamed", "active": True})
    assert (status, body["name"], body["status"], body["version"]) == (200, "Renamed", "active", 4)
    status, body = await client.request("GET", path)
    assert (body["name"], body["version"]) == ("Renamed", 4)


async def test_an_update_that_changes_nothing_keeps_the_version(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create()
    path = f"/api/workflows/{created['id']}"
    status, same = await client.request("PUT", path, json={"active": True})
    assert (status, same["version"]) == (200, 1)
    # A fetched workflow, server fields and all, can be sent back as it is.
    status, same = await client.request("PUT", path, json=created)
    assert (status, same["version"]) == (200, 1)
    status, versions = await client.request("GET", path + "/versions")
    assert [v["version"] for v in versions["items"]] == [1]


async def test_invalid_updates_name_the_json_path(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create()
    path = f"/api/workflows/{created['id']}"
    for body, where in [
        ({"trigger": "offer.nope"}, "$.trigger"),
        ({"actions": [{"type": "webhook", "url": "nope"}]}, "$.actions[0].webhook.url"),
        ({"active": "yes"}, "$"),
        ({"version": "one"}, "$.version"),
        ({"surprise": 1}, "$.surprise"),
    ]:
        status, error = await client.request("PUT", path, json=body)
        assert status == 422, (body, error)
        assert error["error"]["code"] == "invalid_input"
        assert where in [d["path"] for d in error["error"]["details"]], (body, error)
    status, error = await client.request("PUT", path, json=["not", "an", "object"])
    assert (status, error["error"]["details"][0]["path"]) == (422, "$")
    status, current = await client.request("GET", path)
    assert current["version"] == 1


async def test_optimistic_concurrency_by_body_version_or_if_match(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create()
    path = f"/api/workflows/{created['id']}"

    status, body = await client.request("PUT", path, json={"name": "v2", "version": 1})
    assert (status, body["version"]) == (200, 2)
    status, error = await client.request("PUT", path, json={"name": "stale", "version": 1})
    assert (status, error["error"]["code"]) == (409, "version_conflict")
    assert error["error"]["details"] == [
        {"path": "$.version", "message": "the current version is 2"}
    ]

    reply = await client.call("PUT", path, json={"name": "v3"}, headers={"If-Match": '"2"'})
    assert (reply.status, reply.body["version"], reply.headers["ETag"]) == (200, 3, '"3"')
    reply = await client.call("PUT", path, json={"name": "x"}, headers={"If-Match": '"2"'})
    assert (reply.status, reply.body["error"]["code"]) == (409, "version_conflict")
    assert reply.body["error"]["details"][0]["path"] == "header.If-Match"
    reply = await client.call("PUT", path, json={"name": "x"}, headers={"If-Match": "soon"})
    assert (reply.status, reply.body["error"]["details"][0]["path"]) == (422, "header.If-Match")
    reply = await client.call("DELETE", path, headers={"If-Match": '"1"'})
    assert reply.status == 409
    status, current = await client.request("GET", path)
    assert (current["name"], current["version"]) == ("v3", 3)


async def test_concurrent_updates_are_serialized_into_consecutive_versions(
    api: ConfigApiService, pool: Pool, tenant_id: str, kafka_settings: KafkaSettings
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create()
    path = f"/api/workflows/{created['id']}"
    replies = await asyncio.gather(
        *(client.request("PUT", path, json={"name": f"edit {n}"}) for n in range(12))
    )
    assert sorted(body["version"] for _, body in replies) == list(range(2, 14))
    # With a precondition, exactly one of several writers of the same version wins.
    replies = await asyncio.gather(
        *(client.request("PUT", path, json={"name": f"race {n}", "version": 13}) for n in range(6))
    )
    assert sorted(status for status, _ in replies) == [200, 409, 409, 409, 409, 409]
    assert (await client.request("DELETE", path))[0] == 204

    changes = await changelog_of(kafka_settings, f"{tenant_id}/{created['id']}", until=15)
    versions = [change.version for change in changes]
    assert versions == list(range(1, 16)), "every version, once, in order"
    names = [change.workflow.name for change in changes if change.workflow is not None]
    stored = await pool.fetch(
        "SELECT version, definition->>'name' AS name FROM workflow_versions"
        " WHERE workflow_id = $1 ORDER BY version",
        created["id"],
    )
    assert names == [row["name"] for row in stored if row["name"] is not None]
    assert changes[-1].workflow is None, "the last record removes the workflow"


async def test_delete_keeps_the_versions_and_writes_a_removal_record(
    api: ConfigApiService, pool: Pool, tenant_id: str, kafka_settings: KafkaSettings
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create()
    path = f"/api/workflows/{created['id']}"
    await client.request("PUT", path, json={"active": False})

    reply = await client.call("DELETE", path)
    assert (reply.status, reply.body) == (204, None)
    for method in ("GET", "PUT", "DELETE"):
        status, error = await client.request(method, path, json={"active": True})
        assert (status, error["error"]["code"]) == (404, "not_found"), method
    assert (await client.request("POST", path + "/duplicate"))[0] == 404
    assert (await client.request("POST", path + "/versions/1/restore"))[0] == 404
    _, listed = await client.request("GET", "/api/workflows")
    assert created["id"] not in [w["id"] for w in listed["items"]]

    status, versions = await client.request("GET", path + "/versions")
    assert status == 200
    assert [(v["version"], v["change"], v["deleted"]) for v in versions["items"]] == [
        (3, "deleted", True),
        (2, "updated", False),
        (1, "created", False),
    ]
    assert versions["items"][0]["definition"] is None
    status, first = await client.request("GET", path + "/versions/1")
    assert (status, first["definition"]["name"]) == (200, WEBHOOK_WORKFLOW["name"])

    changes = await changelog_of(kafka_settings, f"{tenant_id}/{created['id']}", until=3)
    assert [(c.version, c.workflow is None) for c in changes] == [
        (1, False),
        (2, False),
        (3, True),
    ]
    assert changes[1].workflow is not None
    assert changes[1].workflow.status == "paused"


async def test_duplicate_makes_a_draft_copy(
    api: ConfigApiService, pool: Pool, tenant_id: str, kafka_settings: KafkaSettings
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create({**WEBHOOK_WORKFLOW, "description": "the original"})
    await client.request("PUT", f"/api/workflows/{created['id']}", json={"name": "Original"})

    reply = await client.call("POST", f"/api/workflows/{created['id']}/duplicate")
    assert reply.status == 201, reply.body
    copy = reply.body
    assert reply.headers["Location"] == f"/api/workflows/{copy['id']}"
    assert copy["id"] != created["id"]
    assert (copy["name"], copy["version"], copy["status"], copy["active"]) == (
        "Original (copy)",
        1,
        "draft",
        False,
    )
    assert (copy["description"], copy["actions"], copy["trigger"]) == (
        "the original",
        created["actions"],
        created["trigger"],
    )
    status, original = await client.request("GET", f"/api/workflows/{created['id']}")
    assert (status, original["version"], original["status"]) == (200, 2, "active")
    changes = await changelog_of(kafka_settings, f"{tenant_id}/{copy['id']}", until=1)
    assert changes[0].workflow is not None
    assert changes[0].workflow.status == "draft"

    long = await client.create({**WEBHOOK_WORKFLOW, "name": "x" * 200})
    status, long_copy = await client.request("POST", f"/api/workflows/{long['id']}/duplicate")
    assert status == 201
    assert long_copy["name"] == "x" * 193 + " (copy)"


async def test_version_history_is_newest_first_and_paginated(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create()
    path = f"/api/workflows/{created['id']}"
    for n in range(2, 6):
        await client.request("PUT", path, json={"name": f"name {n}"})

    seen = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page = await client.request("GET", path + "/versions" + query)
        assert status == 200, page
        seen += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [v["version"] for v in seen] == [5, 4, 3, 2, 1]
    assert all(v["createdBy"] == created["createdBy"] for v in seen)
    assert all(v["createdAt"] and v["workflowId"] == created["id"] for v in seen)
    assert seen[0]["definition"]["name"] == "name 5"

    status, version = await client.request("GET", path + "/versions/3")
    assert (status, version["version"], version["definition"]["name"]) == (200, 3, "name 3")
    for missing in ("/versions/9", "/versions/0", "/versions/99999999999999999999", "/versions/x"):
        status, error = await client.request("GET", path + missing)
        assert (status, error["error"]["code"]) == (404, "not_found"), missing
    status, _ = await client.request("GET", "/api/workflows/wf_nope/versions")
    assert status == 404
    status, error = await client.request("GET", path + "/versions?cursor=bm9wZQ")
    assert (status, error["error"]["details"][0]["path"]) == (422, "query.cursor")


async def test_restore_creates_a_new_version_with_the_old_definition(
    api: ConfigApiService, pool: Pool, tenant_id: str, kafka_settings: KafkaSettings
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create()
    path = f"/api/workflows/{created['id']}"
    await client.request("PUT", path, json={"name": "second", "active": False})
    await client.request("PUT", path, json={"name": "third"})

    reply = await client.call("POST", path + "/versions/1/restore")
    assert reply.status == 200, reply.body
    restored = reply.body
    assert (restored["version"], restored["name"], restored["status"]) == (
        4,
        WEBHOOK_WORKFLOW["name"],
        "active",
    )
    assert reply.headers["ETag"] == '"4"'
    _, versions = await client.request("GET", path + "/versions")
    assert [(v["version"], v["change"], v["restoredFrom"]) for v in versions["items"]] == [
        (4, "restored", 1),
        (3, "updated", None),
        (2, "updated", None),
        (1, "created", None),
    ]
    assert versions["items"][0]["definition"] == versions["items"][3]["definition"]
    assert versions["items"][1]["definition"]["name"] == "third", "history is never rewritten"

    reply = await client.call("POST", path + "/versions/2/restore", headers={"If-Match": '"3"'})
    assert (reply.status, reply.body["error"]["code"]) == (409, "version_conflict")
    assert (await client.request("POST", path + "/versions/7/restore"))[0] == 404
    changes = await changelog_of(kafka_settings, f"{tenant_id}/{created['id']}", until=4)
    assert changes[-1].workflow is not None
    assert (changes[-1].version, changes[-1].workflow.name) == (4, WEBHOOK_WORKFLOW["name"])


async def test_restoring_a_version_the_model_no_longer_accepts_is_a_422(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    created = await client.create()
    await client.request("PUT", f"/api/workflows/{created['id']}", json={"name": "v2"})
    # Stands in for a definition written under an older, looser model.
    await pool.execute(
        "UPDATE workflow_versions SET definition = definition || '{\"retired\": 1}'"
        " WHERE workflow_id = $1 AND version = 1",
        created["id"],
    )
    status, error = await client.request(
        "POST", f"/api/workflows/{created['id']}/versions/1/restore"
    )
    assert (status, error["error"]["code"]) == (422, "invalid_input")
    assert "$.retired" in [d["path"] for d in error["error"]["details"]]


async def test_changes_committed_before_the_api_died_are_published_in_order_by_the_next_one(
    pool: Pool,
    tenant_id: str,
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
) -> None:
    """The API's own code path writes each change and its outbox record in one transaction; here
    no relay runs afterwards, as if the process died between the commit and the publish."""
    await migrate(pool)
    principal = Principal(tenant_id=tenant_id, role="read-write", key_id=0)
    repository = PostgresWorkflowRepository(changes_written=asyncio.Event(), pool=pool)
    policy = SavePolicy()
    created = await handlers.create_workflow(repository, principal, WEBHOOK_WORKFLOW, policy)
    await handlers.update_workflow(
        repository, principal, created.id, {"active": False}, policy, if_match=None
    )
    await handlers.update_workflow(
        repository, principal, created.id, {"name": "v3"}, policy, if_match=None
    )
    key = f"{tenant_id}/{created.id}"
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE key = $1", key) == 3

    restarted = ConfigApiService(
        ConfigApiSettings(
            host="127.0.0.1",
            port=0,
            kafka=kafka_settings,
            postgres=postgres_settings,
            outbox_poll_seconds=0.1,
        )
    )
    async with restarted:
        changes = await changelog_of(kafka_settings, key, until=3)

    versions = [change.version for change in changes]
    assert versions[:3] == [1, 2, 3]
    assert versions == sorted(versions)
    assert changes[1].workflow is not None
    assert changes[1].workflow.status == "paused"
