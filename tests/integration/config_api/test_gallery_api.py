"""The templates gallery against the real PostgreSQL and broker: the migrated system templates
are the source files, and list, get, use and publish, tenant by tenant."""

from __future__ import annotations

from typing import Any

import pytest

from services.config_api.adapters.postgres.gallery import GALLERY_QUERIES
from services.config_api.domain import CATEGORIES
from services.config_api.gallery import load_sources, render_migration, stored_row
from services.config_api.service import ConfigApiService
from shared.postgres import Pool
from shared.settings import KafkaSettings
from tests.integration.config_api.support import WEBHOOK_WORKFLOW, Client, changelog_of, key_for

pytestmark = pytest.mark.integration

SOURCES = load_sources()
SLUG = "high-value-deal-alert"


async def test_the_migrated_system_templates_are_the_source_files(
    api: ConfigApiService, pool: Pool
) -> None:
    rows = [dict(row) for row in await pool.fetch(GALLERY_QUERIES.system_templates)]
    assert rows == [stored_row(source) for source in SOURCES], (
        "the database's system templates differ from services/config_api/gallery/*.json: run "
        "`python -m services.config_api.gallery --write-migration`"
    )


async def test_a_later_generated_migration_updates_and_removes_but_keeps_usage_counts(
    api: ConfigApiService, pool: Pool
) -> None:
    renamed = SOURCES[0].model_copy(update={"name": "Renamed in a later release"})
    later = [renamed, *SOURCES[2:]]  # SOURCES[1] is gone from the files
    tuples = "SELECT slug, ctid::text FROM workflow_templates WHERE tenant_id IS NULL"
    async with pool.acquire() as connection:
        transaction = connection.transaction()
        await transaction.start()
        try:
            await connection.execute(
                "UPDATE workflow_templates SET usage_count = 41 "
                "WHERE tenant_id IS NULL AND slug = $1",
                renamed.slug,
            )
            await connection.execute(render_migration(later))
            rows = {
                row["slug"]: row
                for row in await connection.fetch(
                    "SELECT slug, name, usage_count FROM workflow_templates WHERE tenant_id IS NULL"
                )
            }
            assert (rows[renamed.slug]["name"], rows[renamed.slug]["usage_count"]) == (
                "Renamed in a later release",
                41,
            )
            assert set(rows) == {source.slug for source in later}
            # Applied again, it rewrites no row: an unchanged template is left as it is.
            before = await connection.fetch(tuples)
            await connection.execute(render_migration(later))
            assert await connection.fetch(tuples) == before
        finally:
            await transaction.rollback()


async def _all_pages(client: Client, query: str = "") -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    cursor = None
    while True:
        separator = "&" if query else ""
        path = f"/api/templates?{query}{separator}limit=5" + (f"&cursor={cursor}" if cursor else "")
        status, page = await client.request("GET", path)
        assert status == 200, page
        seen += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            return seen


async def test_the_gallery_lists_featured_first_by_category_in_cursor_pages(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id, role="read-only"))
    listed = await _all_pages(client)
    assert sorted(t["slug"] for t in listed) == sorted(s.slug for s in SOURCES)
    featured = [t["featured"] for t in listed]
    assert featured == sorted(featured, reverse=True)
    assert any(featured)
    first = listed[0]
    assert first["scope"] == "system"
    assert isinstance(first["usageCount"], int)
    assert first["sampleEvent"]["type"] == first["workflow"]["trigger"]

    for category in CATEGORIES:
        shown = await _all_pages(client, f"category={category.replace(' ', '+')}")
        assert shown
        assert {t["category"] for t in shown} == {category}
    status, error = await client.request("GET", "/api/templates?category=Finance")
    assert status == 422
    assert error["error"]["details"][0]["path"] == "query.category"
    status, error = await client.request("GET", "/api/templates?cursor=bogus")
    assert (status, error["error"]["details"][0]["path"]) == (422, "query.cursor")

    status, one = await client.request("GET", f"/api/templates/{SLUG}")
    assert status == 200
    assert (one["slug"], one["category"], one["featured"]) == (SLUG, "Sales", True)
    status, missing = await client.request("GET", "/api/templates/no-such-template")
    assert (status, missing["error"]["code"]) == (404, "not_found")


async def _usage(client: Client, slug: str) -> int:
    status, template = await client.request("GET", f"/api/templates/{slug}")
    assert status == 200, template
    return int(template["usageCount"])


async def test_using_a_template_saves_a_draft_copy_and_counts_the_use(
    api: ConfigApiService, pool: Pool, tenant_id: str, kafka_settings: KafkaSettings
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    before = await _usage(client, SLUG)
    reply = await client.call("POST", f"/api/templates/{SLUG}/use")
    assert reply.status == 201, reply.body
    workflow = reply.body
    assert reply.headers["Location"] == f"/api/workflows/{workflow['id']}"
    assert (workflow["tenantId"], workflow["version"], workflow["status"]) == (
        tenant_id,
        1,
        "draft",
    )
    assert workflow["name"] == "High-Value Deal Alert"
    assert workflow["trigger"] == "private_offer.accepted"
    assert await _usage(client, SLUG) == before + 1

    status, fetched = await client.request("GET", f"/api/workflows/{workflow['id']}")
    assert (status, fetched) == (200, workflow)
    _, versions = await client.request("GET", f"/api/workflows/{workflow['id']}/versions")
    assert [v["change"] for v in versions["items"]] == ["created"]
    _, audit = await client.request("GET", f"/api/audit?resourceId={workflow['id']}")
    [entry] = audit["items"]
    assert entry["action"] == "create"
    assert entry["after"]["fromTemplate"] == {"slug": SLUG, "scope": "system"}
    changes = await changelog_of(kafka_settings, f"{tenant_id}/{workflow['id']}", until=1)
    assert changes[-1].workflow is not None
    assert changes[-1].workflow.status == "draft"

    status, renamed = await client.request(
        "POST", f"/api/templates/{SLUG}/use", json={"name": "Our deal alert"}
    )
    assert (status, renamed["name"]) == (201, "Our deal alert")
    assert await _usage(client, SLUG) == before + 2

    status, error = await client.request("POST", f"/api/templates/{SLUG}/use", json={"nam": "x"})
    assert (status, error["error"]["details"][0]["path"]) == (422, "$.nam")
    status, error = await client.request("POST", "/api/templates/no-such-template/use")
    assert (status, error["error"]["code"]) == (404, "not_found")
    assert await _usage(client, SLUG) == before + 2

    reader = Client(api, await key_for(pool, tenant_id, role="read-only"))
    status, _ = await reader.request("POST", f"/api/templates/{SLUG}/use")
    assert status == 403
    assert await _usage(client, SLUG) == before + 2


async def test_every_shipped_template_copied_through_the_api_dry_runs_cleanly(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    for source in SOURCES:
        status, workflow = await client.request("POST", f"/api/templates/{source.slug}/use")
        assert status == 201, (source.slug, workflow)
        status, result = await client.request(
            "POST",
            f"/api/workflows/{workflow['id']}/test",
            json={"dryRun": True, "testData": source.sample_event.data},
        )
        assert status == 200, (source.slug, result)
        assert result["wouldRun"], (source.slug, result["conditions"])
        assert result["missingVariables"] == [], source.slug
        assert all(action["wouldRun"] for action in result["actions"]), source.slug


async def test_a_published_template_is_the_tenants_own(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    mine = Client(api, await key_for(pool, tenant_id))
    theirs = Client(api, await key_for(pool, tenant_id + "-other"))
    workflow = await mine.create({**WEBHOOK_WORKFLOW, "description": "Sends accepted offers on"})
    body = {
        "workflowId": workflow["id"],
        "slug": "crm-bridge",
        "category": "Operations",
        "sampleEvent": {"type": "private_offer.accepted", "data": {"value": 5}},
    }
    reply = await mine.call("POST", "/api/templates", json=body)
    assert reply.status == 201, reply.body
    published = reply.body
    assert reply.headers["Location"] == "/api/templates/crm-bridge"
    assert (published["scope"], published["usageCount"], published["featured"]) == (
        "tenant",
        0,
        False,
    )
    assert (published["name"], published["description"]) == (
        WEBHOOK_WORKFLOW["name"],
        "Sends accepted offers on",
    )
    assert published["sourceWorkflowId"] == workflow["id"]
    assert "status" not in published["workflow"]
    assert published["workflow"]["actions"] == workflow["actions"]
    _, audit = await mine.request("GET", "/api/audit?resourceType=workflow_template")
    assert [(e["action"], e["resourceId"]) for e in audit["items"]] == [("publish", "crm-bridge")]

    listed = await _all_pages(mine, "scope=tenant")
    assert [t["slug"] for t in listed] == ["crm-bridge"]
    assert "crm-bridge" in {t["slug"] for t in await _all_pages(mine)}

    # Another tenant: not listed, not readable, not usable — the same 404 as a missing one.
    assert "crm-bridge" not in {t["slug"] for t in await _all_pages(theirs)}
    assert await _all_pages(theirs, "scope=tenant") == []
    for method, path in (
        ("GET", "/api/templates/crm-bridge"),
        ("POST", "/api/templates/crm-bridge/use"),
    ):
        status, error = await theirs.request(method, path)
        assert (status, error["error"]["code"]) == (404, "not_found"), (method, path)
    _, their_workflows = await theirs.request("GET", "/api/workflows")
    assert their_workflows["items"] == []

    status, copy = await mine.request("POST", "/api/templates/crm-bridge/use")
    assert (status, copy["status"], copy["name"]) == (201, "draft", WEBHOOK_WORKFLOW["name"])
    assert copy["id"] != workflow["id"]
    assert await _usage(mine, "crm-bridge") == 1

    # The other tenant may use the same slug for its own template.
    their_workflow = await theirs.create()
    status, their_template = await theirs.request(
        "POST",
        "/api/templates",
        json={"workflowId": their_workflow["id"], "slug": "crm-bridge", "category": "Sales"},
    )
    assert (status, their_template["category"]) == (201, "Sales")
    _, still_mine = await mine.request("GET", "/api/templates/crm-bridge")
    assert (still_mine["category"], still_mine["usageCount"]) == ("Operations", 1)


async def test_publishing_refuses_taken_slugs_and_bad_fields(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    mine = Client(api, await key_for(pool, tenant_id))
    theirs = Client(api, await key_for(pool, tenant_id + "-other"))
    workflow = await mine.create()
    their_workflow = await theirs.create()
    body = {"workflowId": workflow["id"], "slug": "bridge", "category": "Sales"}
    assert (await mine.request("POST", "/api/templates", json=body))[0] == 201

    for slug in ("bridge", SLUG):
        status, error = await mine.request("POST", "/api/templates", json={**body, "slug": slug})
        assert status == 409, slug
        assert error["error"]["code"] == "slug_taken"
        assert error["error"]["details"][0]["path"] == "$.slug"

    cases: list[tuple[dict[str, Any], str]] = [
        ({**body, "slug": "x2", "category": "Finance"}, "$.category"),
        ({**body, "slug": "Bad Slug"}, "$.slug"),
        ({**body, "slug": "x3", "workflowId": "wf_missing"}, "$.workflowId"),
        # Another tenant's workflow is no workflow of this tenant.
        ({**body, "slug": "x4", "workflowId": their_workflow["id"]}, "$.workflowId"),
        (
            {**body, "slug": "x5", "sampleEvent": {"type": "customer.created", "data": {}}},
            "$.sampleEvent.type",
        ),
        ({"slug": "x6", "category": "Sales"}, "$.workflowId"),
    ]
    for case, path in cases:
        status, error = await mine.request("POST", "/api/templates", json=case)
        assert status == 422, (case, error)
        assert path in {d["path"] for d in error["error"]["details"]}, (case, error)
    status, _ = await mine.request("POST", "/api/templates", data=b"{not json")
    assert status == 400
    assert [t["slug"] for t in await _all_pages(mine, "scope=tenant")] == ["bridge"]

    reader = Client(api, await key_for(pool, tenant_id, role="read-only"))
    status, _ = await reader.request("POST", "/api/templates", json={**body, "slug": "r1"})
    assert status == 403
