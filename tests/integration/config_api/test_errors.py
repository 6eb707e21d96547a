"""Bad input of every kind gets a 4xx in the one error shape, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from services.config_api.service import ConfigApiService
from shared.postgres import Pool
from tests.integration.config_api.support import WEBHOOK_WORKFLOW, Client, key_for

pytestmark = pytest.mark.integration


def assert_error_shape(body: Any) -> None:
    error = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    assert all(set(detail) == {"path", "message"} for detail in error["details"])


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"{nope", 400, "invalid_json"),
        (b"", 400, "invalid_json"),
        (b"\xff\xfe", 400, "invalid_json"),
        (b"[" * 100_000 + b"]" * 100_000, 413, "payload_too_large"),
        (b"[" * 30_000 + b"]" * 30_000, 400, "invalid_json"),
        (b'{"name": ' + b"9" * 5000 + b"}", 400, "invalid_json"),
        (b'{"name": "a\\u0000b"}', 422, "invalid_input"),
        (b'{"name": "\\ud800"}', 422, "invalid_input"),
        (b'{"name": NaN}', 422, "invalid_input"),
        (b'{"name": 1e999}', 422, "invalid_input"),
        (b'{"a\\u0000": 1}', 422, "invalid_input"),
    ],
)
async def test_malformed_bodies(
    api: ConfigApiService, pool: Pool, tenant_id: str, raw: bytes, status: int, code: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create()
    for method, path in [
        ("POST", "/api/workflows"),
        ("PUT", f"/api/workflows/{workflow['id']}"),
        ("POST", "/api/email-templates"),
        ("PUT", "/api/inbound-secrets/native"),
    ]:
        reply = await client.call(
            method, path, data=raw, headers={"Content-Type": "application/json"}
        )
        assert (reply.status, reply.body["error"]["code"]) == (status, code), (method, path)
        assert_error_shape(reply.body)


async def test_nul_and_unpaired_surrogates_in_paths_and_queries(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    for path in (
        "/api/workflows/wf%00x",
        "/api/workflows/%ED%A0%80",
        "/api/executions/exe%00",
        "/api/email-templates/%00",
        "/api/workflows/wf%00/versions/1",
    ):
        reply = await client.call("GET", path)
        assert reply.status == 404, (path, reply.body)
        assert_error_shape(reply.body)
    for listing in ("/api/workflows", "/api/audit"):
        for query in ("trigger=%00", "cursor=%00", "resourceId=a%00", "x%00=1"):
            reply = await client.call("GET", f"{listing}?{query}")
            assert reply.status == 422, (listing, query, reply.body)
            assert_error_shape(reply.body)
        # Not UTF-8 at all: decoded leniently, so at worst it matches nothing.
        reply = await client.call("GET", f"{listing}?trigger=%ED%A0%80&resourceId=%FF")
        assert reply.status == 200, reply.body


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=201",
        "limit=many",
        "limit=" + "9" * 5000,
        "cursor=!!!",
        "cursor=bm9wZQ",
        # A timestamp near the edge of datetime's range, with an offset that would overflow.
        "cursor=MDAwMS0wMS0wMVQwMDowMDowMCswOTowMHx4",
    ],
)
async def test_bad_list_parameters(
    api: ConfigApiService, pool: Pool, tenant_id: str, query: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create()
    for listing in (
        "/api/workflows",
        f"/api/workflows/{workflow['id']}/versions",
        f"/api/workflows/{workflow['id']}/executions",
        "/api/email-templates",
        "/api/audit",
    ):
        reply = await client.call("GET", f"{listing}?{query}")
        assert reply.status == 422, (listing, query, reply.body)
        assert reply.body["error"]["details"][0]["path"].startswith("query.")


async def test_unknown_routes_and_methods(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    reply = await client.call("GET", "/api/nothing-here")
    assert reply.status == 404
    assert_error_shape(reply.body)
    reply = await client.call("PATCH", "/api/workflows", json=WEBHOOK_WORKFLOW)
    assert reply.status == 405
    assert_error_shape(reply.body)


async def test_bodies_larger_than_the_limit_are_413(
    api: ConfigApiService, pool: Pool, tenant_id: str
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    big = {**WEBHOOK_WORKFLOW, "description": "x" * 70_000}
    reply = await client.call("POST", "/api/workflows", json=big)
    assert (reply.status, reply.body["error"]["code"]) == (413, "payload_too_large")
