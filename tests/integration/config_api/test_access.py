"""Tenancy and roles on every route: another tenant's ids are 404s, read-only keys cannot write.

The routes come from the OpenAPI document, so a new route is covered without editing this file.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from services.config_api.adapters.http.common import READING_POSTS
from services.config_api.adapters.http.openapi import openapi_document
from services.config_api.service import ConfigApiService
from shared.postgres import Pool, apply_migrations
from tests.integration.config_api.support import (
    WEBHOOK_WORKFLOW,
    Client,
    insert_product_records,
    key_for,
)

pytestmark = pytest.mark.integration

DOCUMENT = openapi_document(200)
OPERATIONS = [
    (method.upper(), path)
    for path, item in DOCUMENT["paths"].items()
    for method in item
    if path != "/api/openapi.json"
]
READS = [(method, path) for method, path in OPERATIONS if method == "GET" or path in READING_POSTS]
WRITES = [(method, path) for method, path in OPERATIONS if (method, path) not in READS]
ID_TAKING = [
    (method, path)
    for method, path in OPERATIONS
    if re.search(r"\{(workflow_id|execution_id|template_id|record_id|slug)\}", path)
]
BODIES: dict[str, Any] = {
    "/api/workflows": WEBHOOK_WORKFLOW,
    "/api/workflows/{workflow_id}": {"name": "taken over", "active": False},
    "/api/email-templates": {"name": "x", "subject": "s", "body": "b"},
    "/api/email-templates/{template_id}": {"subject": "taken over"},
    "/api/inbound-secrets/{source}": {"secret": "x" * 20},
}


async def owned_resources(pool: Pool, client: Client) -> dict[str, str]:
    """Path parameters naming one resource of each kind, owned by ``client``'s tenant."""
    workflow = await client.create()
    await client.request("PUT", f"/api/workflows/{workflow['id']}", json={"name": "v2"})
    _, template = await client.request(
        "POST", "/api/email-templates", json={"name": "mine", "subject": "s", "body": "b"}
    )
    published = {"workflowId": workflow["id"], "slug": f"mine-{workflow['id'][-8:]}"}
    _, gallery_template = await client.request(
        "POST", "/api/templates", json={**published, "category": "Sales"}
    )
    await apply_migrations(pool, owner="executor", package="services.executor")
    execution_id = f"exe_{workflow['id']}"
    await pool.execute(
        "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type, event)"
        " VALUES ($1, $2, $3, 1, 'private_offer.accepted', '{}')",
        execution_id,
        workflow["tenantId"],
        workflow["id"],
    )
    records = await insert_product_records(pool, workflow["tenantId"], workflow["id"], execution_id)
    return {
        "workflow_id": workflow["id"],
        "version": "1",
        "template_id": template["id"],
        "execution_id": execution_id,
        "source": "hubspot",
        "slug": gallery_template["slug"],
        **{f"record_id@{path}": record_id for path, record_id in records.items()},
    }


def fill(path: str, parameters: dict[str, str]) -> str:
    """``path`` with its parameters; ``record_id`` is the one of the record kind in the path."""
    kind = path.split("/{", 1)[0]
    return re.sub(
        r"\{(\w+)\}",
        lambda m: parameters.get(f"{m.group(1)}@{kind}") or parameters[m.group(1)],
        path,
    )


async def test_every_id_taking_route_is_a_404_for_another_tenant(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    owner = Client(api, await key_for(pool, tenant_id))
    intruder = Client(api, await key_for(pool, tenant_id + "-intruder"))
    parameters = await owned_resources(pool, owner)
    assert len(ID_TAKING) >= 12
    for method, path in ID_TAKING:
        status, body = await intruder.request(method, fill(path, parameters), json=BODIES.get(path))
        assert (status, body["error"]["code"]) == (404, "not_found"), (method, path, body)

    # Nothing the intruder did had any effect, and no list shows the owner's resources.
    status, workflow = await owner.request("GET", f"/api/workflows/{parameters['workflow_id']}")
    assert (status, workflow["version"], workflow["name"]) == (200, 2, "v2")
    status, template = await owner.request(
        "GET", f"/api/email-templates/{parameters['template_id']}"
    )
    assert (status, template["subject"]) == (200, "s")
    listings = ("/api/workflows", "/api/email-templates", "/api/audit", "/api/tasks", "/api/tags")
    for listing in listings:
        status, page = await intruder.request("GET", listing)
        assert (status, page["items"]) == (200, []), listing
    _, secrets = await intruder.request("GET", "/api/inbound-secrets")
    assert not any(s["set"] for s in secrets["items"])


async def test_read_only_keys_can_read_but_every_write_is_a_403(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    writer = Client(api, await key_for(pool, tenant_id))
    reader = Client(api, await key_for(pool, tenant_id, role="read-only"))
    parameters = await owned_resources(pool, writer)
    assert len(WRITES) >= 10
    for method, path in WRITES:
        status, body = await reader.request(method, fill(path, parameters), json=BODIES.get(path))
        assert (status, body["error"]["code"]) == (403, "forbidden"), (method, path)
    assert any(method == "POST" for method, _ in READS), "dry runs are open to read-only keys"
    for method, path in READS:
        status, body = await reader.request(method, fill(path, parameters), json=BODIES.get(path))
        assert status == 200, (path, body)
    _, audit = await writer.request("GET", "/api/audit")
    assert all(entry["actor"] == audit["items"][0]["actor"] for entry in audit["items"])


async def test_every_route_but_the_document_needs_a_key(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    anonymous = Client(api, None)
    wrong = Client(api, "wfk_not-a-key")
    parameters = await owned_resources(pool, Client(api, await key_for(pool, tenant_id)))
    for method, path in OPERATIONS:
        for client in (anonymous, wrong):
            status, body = await client.request(method, fill(path, parameters))
            assert (status, body["error"]["code"]) == (401, "unauthorized"), (method, path)
    status, document = await anonymous.request("GET", "/api/openapi.json")
    assert (status, document["openapi"]) == (200, "3.1.0")
