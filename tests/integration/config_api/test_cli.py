"""The operator CLI, run as a real process against the test database."""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.config_api.service import ConfigApiService
from shared import tenancy
from shared.postgres import Pool
from tests.integration.config_api.support import WEBHOOK_WORKFLOW, Client

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


async def cli(database_url: str, *args: str) -> Run:
    env = {**os.environ, "DATABASE_URL": database_url}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.config_api",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


async def test_tenants_and_keys_from_the_command_line(
    database_url: str, pool: Pool, tenant_id: str, api: ConfigApiService
) -> None:
    run = await cli(database_url, "tenants", "create", tenant_id, "--name", "Acme Corp")
    assert run.code == 0, run.err
    assert run.out == ""
    assert "created" in run.err
    assert "high-value-deal" in run.err
    tenant = await tenancy.get_tenant(pool, tenant_id)
    assert tenant is not None
    assert tenant.name == "Acme Corp"
    assert tenant.timezone == "UTC"
    run = await cli(
        database_url,
        "tenants",
        "create",
        tenant_id,
        "--name",
        "Acme Corp",
        "--timezone",
        "America/New_York",
        "--no-example-templates",
    )
    assert run.code == 0, run.err
    assert "time zone America/New_York" in run.err
    assert await tenancy.tenant_timezone(pool, tenant_id) == "America/New_York"

    run = await cli(database_url, "keys", "create", tenant_id, "--label", "ci")
    assert run.code == 0, run.err
    writer_key = run.out.strip()
    assert writer_key.startswith(tenancy.KEY_PREFIX)
    assert run.out.count("\n") == 1, "stdout is the key alone"
    run = await cli(
        database_url, "keys", "create", tenant_id, "--role", "read-only", "--label", "dashboard"
    )
    reader_key = run.out.strip()

    writer = Client(api, writer_key)
    reader = Client(api, reader_key)
    assert (await writer.request("POST", "/api/workflows", json=WEBHOOK_WORKFLOW))[0] == 201
    assert (await reader.request("GET", "/api/workflows"))[0] == 200
    assert (await reader.request("POST", "/api/workflows", json=WEBHOOK_WORKFLOW))[0] == 403
    _, templates = await reader.request("GET", "/api/email-templates")
    assert {t["name"] for t in templates["items"]} >= {"high-value-deal", "welcome"}

    run = await cli(database_url, "keys", "list", tenant_id)
    assert run.code == 0, run.err
    header, *rows = run.out.splitlines()
    assert header.split() == ["ID", "PREFIX", "ROLE", "LABEL", "CREATED", "REVOKED"]
    assert [row.split()[2:4] for row in rows] == [["read-write", "ci"], ["read-only", "dashboard"]]
    assert writer_key not in run.out
    assert reader_key not in run.out
    assert rows[0].split()[1] == writer_key[:8] + "…"

    reader_id = rows[1].split()[0]
    run = await cli(database_url, "keys", "revoke", reader_id)
    assert (run.code, "revoked" in run.err) == (0, True)
    assert await tenancy.authenticate(pool, reader_key) is None
    assert (await reader.request("GET", "/api/workflows"))[0] == 401
    run = await cli(database_url, "keys", "revoke", reader_id)
    assert (run.code, "already revoked" in run.err) == (0, True)
    run = await cli(database_url, "keys", "list", tenant_id)
    assert run.out.splitlines()[2].split()[-1] != "-", "the revocation time is listed"

    _, audit = await writer.request("GET", "/api/audit?resourceType=api_key")
    assert [(e["action"], e["actor"]) for e in audit["items"]] == [
        ("revoke", "cli"),
        ("create", "cli"),
        ("create", "cli"),
    ]
    assert writer_key not in str(audit)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tenants", "create", "bad id!"), "invalid tenant id"),
        (("tenants", "create", "acme", "--timezone", "Mars/Olympus"), "unknown IANA time zone"),
        (("keys", "create", "no-such-tenant"), "no tenant"),
        (("keys", "list", "no-such-tenant"), "no tenant"),
        (("keys", "revoke", "999999999"), "no API key"),
        (("templates", "install-examples", "no-such-tenant"), "no tenant"),
    ],
)
async def test_refusals_exit_1_with_a_reason(
    database_url: str, args: tuple[str, ...], message: str
) -> None:
    run = await cli(database_url, *args)
    assert run.code == 1, run
    assert message in run.err
    assert "Traceback" not in run.err


async def test_usage_errors_exit_2(database_url: str) -> None:
    run = await cli(database_url, "keys", "create", "x", "--role", "admin")
    assert run.code == 2
    assert "invalid choice" in run.err
    run = await cli(database_url, "--help")
    assert run.code == 0
    assert "Without a command, run the config API service" in run.out


async def test_an_unreachable_database_is_a_clear_error() -> None:
    run = await cli("postgresql://nobody@127.0.0.1:1/none", "keys", "list", "acme")
    assert run.code == 1
    assert "DATABASE_URL" in run.err
    assert "Traceback" not in run.err
