"""A tenant's settings, email templates, inbound secrets and audit log."""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.config_api.adapters.postgres import install_example_templates
from services.config_api.domain import EXAMPLE_TEMPLATES
from services.config_api.service import ConfigApiService
from shared import tenancy
from shared.postgres import Pool
from tests.integration.config_api.support import Client, key_for

pytestmark = pytest.mark.integration

TEMPLATE = {"name": "quarterly-review", "subject": "Review: {{customerName}}", "body": "Hello"}
SEED_TEMPLATE_NAMES = {
    "high-value-deal",
    "renewal-reminder-internal",
    "welcome-email",
    "welcome",
    "follow-up",
}
HUBSPOT_SECRET = "0f7c3e1a-9d2b-4c55-8e31-6a0b9c7d2e4f"


async def test_template_crud_with_unique_names(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    reply = await client.call("POST", "/api/email-templates", json=TEMPLATE)
    assert reply.status == 201, reply.body
    created = reply.body
    path = f"/api/email-templates/{created['id']}"
    assert reply.headers["Location"] == path
    assert {k: created[k] for k in TEMPLATE} == TEMPLATE
    assert created["htmlBody"] is None, "without one, the text body is sent as HTML too"
    assert created["createdBy"].startswith("api-key:")

    status, error = await client.request("POST", "/api/email-templates", json=TEMPLATE)
    assert (status, error["error"]["code"]) == (409, "name_taken")
    assert error["error"]["details"][0]["path"] == "$.name"

    status, updated = await client.request("PUT", path, json={"subject": "New subject"})
    assert (status, updated["subject"], updated["body"]) == (200, "New subject", "Hello")
    status, updated = await client.request("PUT", path, json={"htmlBody": "<p>Hello</p>"})
    assert (status, updated["htmlBody"], updated["body"]) == (200, "<p>Hello</p>", "Hello")
    published = await pool.fetchrow(
        "SELECT * FROM config_api_published.email_templates WHERE tenant_id = $1 AND name = $2",
        tenant_id,
        TEMPLATE["name"],
    )
    assert published is not None
    assert (published["text_body"], published["html_body"]) == ("Hello", "<p>Hello</p>")
    status, other = await client.request(
        "POST", "/api/email-templates", json={**TEMPLATE, "name": "other"}
    )
    assert status == 201
    status, error = await client.request(
        "PUT", f"/api/email-templates/{other['id']}", json={"name": TEMPLATE["name"]}
    )
    assert (status, error["error"]["code"]) == (409, "name_taken")

    status, listed = await client.request("GET", "/api/email-templates?limit=1")
    assert [t["id"] for t in listed["items"]] == [created["id"]]
    status, rest = await client.request(
        "GET", f"/api/email-templates?limit=1&cursor={listed['nextCursor']}"
    )
    assert ([t["id"] for t in rest["items"]], rest["nextCursor"]) == ([other["id"]], None)

    assert (await client.call("DELETE", path)).status == 204
    assert (await client.request("GET", path))[0] == 404
    assert (await client.request("DELETE", path))[0] == 404
    # The name is free again.
    assert (await client.request("POST", "/api/email-templates", json=TEMPLATE))[0] == 201


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({**TEMPLATE, "subject": "two\r\nBcc: everyone@example.com"}, "$.subject"),
        ({**TEMPLATE, "name": "has spaces"}, "$.name"),
        ({**TEMPLATE, "body": ""}, "$.body"),
        ({"name": "only-a-name"}, "$.subject"),
        ({**TEMPLATE, "html": "<p>"}, "$.html"),
        ({**TEMPLATE, "htmlBody": ""}, "$.htmlBody"),
    ],
)
async def test_invalid_templates_name_the_path(
    api: ConfigApiService, pool: Pool, tenant_id: str, body: dict[str, Any], path: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    status, error = await client.request("POST", "/api/email-templates", json=body)
    assert status == 422, error
    assert path in [d["path"] for d in error["error"]["details"]]


async def test_the_seed_templates_install_once_per_tenant(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    await client.request(
        "POST", "/api/email-templates", json={**TEMPLATE, "name": "welcome", "body": "Mine"}
    )
    installed = await install_example_templates(pool, tenant_id)
    assert {t.content.name for t in installed} == SEED_TEMPLATE_NAMES - {"welcome"}
    assert await install_example_templates(pool, tenant_id) == []

    _, listed = await client.request("GET", "/api/email-templates")
    by_name = {t["name"]: t for t in listed["items"]}
    assert set(by_name) == SEED_TEMPLATE_NAMES
    assert by_name["welcome"]["body"] == "Mine", "the tenant's own template wins"
    assert {t.name for t in EXAMPLE_TEMPLATES} == SEED_TEMPLATE_NAMES
    assert all(by_name[name]["htmlBody"] for name in SEED_TEMPLATE_NAMES - {"welcome"})


async def test_inbound_secrets_are_write_only(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    status, before = await client.request("GET", "/api/inbound-secrets/hubspot")
    assert (status, before) == (
        200,
        {"source": "hubspot", "set": False, "createdAt": None, "updatedAt": None},
    )

    status, shown = await client.request(
        "PUT", "/api/inbound-secrets/hubspot", json={"secret": HUBSPOT_SECRET}
    )
    assert (status, shown["set"], shown["source"]) == (200, True, "hubspot")
    status, listed = await client.request("GET", "/api/inbound-secrets")
    assert [(s["source"], s["set"]) for s in listed["items"]] == [
        ("hubspot", True),
        ("aws", False),
        ("azure", False),
        ("salesforce", False),
        ("native", False),
    ]
    # What ingest verifies signatures with.
    assert await tenancy.inbound_secret(pool, tenant_id, "hubspot") == HUBSPOT_SECRET

    status, replaced = await client.request(
        "PUT", "/api/inbound-secrets/hubspot", json={"secret": "b" * 32}
    )
    assert (status, replaced["createdAt"]) == (200, shown["createdAt"])
    assert replaced["updatedAt"] > shown["updatedAt"]
    assert await tenancy.inbound_secret(pool, tenant_id, "hubspot") == "b" * 32

    status, error = await client.request(
        "PUT", "/api/inbound-secrets/hubspot", json={"secret": "short"}
    )
    assert (status, error["error"]["details"][0]["path"]) == (422, "$.secret")
    assert "short" not in json.dumps(error)
    status, error = await client.request(
        "PUT", "/api/inbound-secrets/zapier", json={"secret": HUBSPOT_SECRET}
    )
    assert (status, error["error"]["code"]) == (404, "not_found")

    assert (await client.call("DELETE", "/api/inbound-secrets/hubspot")).status == 204
    assert (await client.request("DELETE", "/api/inbound-secrets/hubspot"))[0] == 404
    assert await tenancy.inbound_secret(pool, tenant_id, "hubspot") is None

    _, audit = await client.request("GET", "/api/audit?resourceType=inbound_secret")
    assert [(e["action"], e["resourceId"]) for e in audit["items"]] == [
        ("delete", "hubspot"),
        ("update", "hubspot"),
        ("create", "hubspot"),
    ]
    assert HUBSPOT_SECRET not in json.dumps(audit)
    assert "b" * 32 not in json.dumps(audit)


async def test_every_change_is_audited_newest_first(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create()
    path = f"/api/workflows/{workflow['id']}"
    await client.request("PUT", path, json={"active": False})
    await client.request("POST", path + "/versions/1/restore")
    _, copy = await client.request("POST", path + "/duplicate")
    await client.request("DELETE", path)
    _, template = await client.request("POST", "/api/email-templates", json=TEMPLATE)
    await client.request("PUT", f"/api/email-templates/{template['id']}", json={"body": "Bye"})
    await client.request("DELETE", f"/api/email-templates/{template['id']}")
    await client.request("PUT", "/api/inbound-secrets/aws", json={"secret": "s" * 20})

    entries: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = "?limit=3" + (f"&cursor={cursor}" if cursor else "")
        status, page = await client.request("GET", "/api/audit" + query)
        assert status == 200, page
        entries += page["items"]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert [(e["action"], e["resourceType"]) for e in entries] == [
        ("create", "inbound_secret"),
        ("delete", "email_template"),
        ("update", "email_template"),
        ("create", "email_template"),
        ("delete", "workflow"),
        ("duplicate", "workflow"),
        ("restore", "workflow"),
        ("update", "workflow"),
        ("create", "workflow"),
    ]
    assert {e["actor"] for e in entries} == {workflow["createdBy"]}
    update = entries[7]
    assert (update["before"]["version"], update["after"]["version"]) == (1, 2)
    assert (update["before"]["definition"]["status"], update["after"]["definition"]["status"]) == (
        "active",
        "paused",
    )
    assert entries[6]["after"]["restoredFrom"] == 1
    assert entries[5]["resourceId"] == copy["id"]
    assert entries[5]["after"]["duplicatedFrom"] == {"workflowId": workflow["id"], "version": 3}
    assert (entries[4]["before"]["version"], entries[4]["after"]) == (3, None)
    assert (entries[2]["before"]["body"], entries[2]["after"]["body"]) == ("Hello", "Bye")

    _, only = await client.request("GET", f"/api/audit?resourceId={workflow['id']}")
    assert [e["action"] for e in only["items"]] == ["delete", "restore", "update", "create"]
    other = Client(api, await key_for(pool, tenant_id + "-other"))
    _, theirs = await other.request("GET", "/api/audit")
    assert theirs["items"] == []


async def test_the_tenant_sets_its_time_zone(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    status, tenant = await client.request("GET", "/api/tenant")
    assert (status, tenant["id"], tenant["timezone"]) == (200, tenant_id, "UTC")

    status, error = await client.request("PUT", "/api/tenant", json={"timezone": "Mars/Olympus"})
    assert (status, error["error"]["details"][0]["path"]) == (422, "$.timezone")
    assert "unknown IANA time zone" in error["error"]["details"][0]["message"]
    status, error = await client.request("PUT", "/api/tenant", json={"zone": "Europe/Paris"})
    assert (status, error["error"]["details"][0]["path"]) == (422, "$.zone")

    status, changed = await client.request(
        "PUT", "/api/tenant", json={**tenant, "timezone": "Europe/Paris"}
    )
    assert (status, changed["timezone"], changed["name"]) == (200, "Europe/Paris", tenant["name"])
    assert await tenancy.tenant_timezone(pool, tenant_id) == "Europe/Paris"
    assert (await tenancy.tenant_timezones(pool))[tenant_id] == "Europe/Paris"

    reader = Client(api, await key_for(pool, tenant_id, role="read-only"))
    status, _ = await reader.request("PUT", "/api/tenant", json={"timezone": "UTC"})
    assert status == 403
    assert (await reader.request("GET", "/api/tenant"))[1]["timezone"] == "Europe/Paris"

    _, audit = await client.request("GET", "/api/audit?resourceType=tenant")
    [entry] = audit["items"]
    assert (entry["before"]["timezone"], entry["after"]["timezone"]) == ("UTC", "Europe/Paris")
