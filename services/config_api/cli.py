"""Operator commands: tenants, API keys, example templates (``python -m services.config_api ...``).

Each command applies the migrations first, so it works on a fresh database, and records what it
changed in the audit log as the actor ``cli``. A new key is printed once, alone on stdout (so
``KEY=$(... keys create acme)`` works); everything else goes to stderr or is a listing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Sequence
from typing import TextIO

import asyncpg

from services.config_api.adapters.postgres import install_example_templates, migrate, write_audit
from services.config_api.domain import AuditChange
from services.config_api.settings import ConfigApiSettings
from shared import tenancy
from shared.contracts.envelope import TENANT_ID_PATTERN
from shared.postgres import Pool, create_pool

ACTOR = "cli"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.config_api",
        description="Manage tenants and API keys. Without a command, run the config API service.",
    )
    groups = parser.add_subparsers(dest="group", required=True, metavar="{tenants,keys,templates}")

    tenants = groups.add_parser("tenants", help="create tenants").add_subparsers(
        dest="command", required=True
    )
    create_tenant = tenants.add_parser("create", help="create a tenant (or rename it)")
    create_tenant.add_argument("tenant_id", help=f"the tenant id ({TENANT_ID_PATTERN})")
    create_tenant.add_argument("--name", help="display name (default: the id)")
    create_tenant.add_argument(
        "--timezone",
        help="IANA time zone its calendar days are counted in (default UTC; kept if it exists)",
    )
    create_tenant.add_argument(
        "--no-example-templates",
        action="store_true",
        help="do not install the example email templates",
    )

    keys = groups.add_parser("keys", help="create, list and revoke API keys").add_subparsers(
        dest="command", required=True
    )
    create_key = keys.add_parser("create", help="create a key; it is printed once, on stdout")
    create_key.add_argument("tenant_id")
    create_key.add_argument("--role", choices=tenancy.ROLES, default="read-write")
    create_key.add_argument("--label", default="", help="what the key is for")
    revoke_key = keys.add_parser("revoke", help="revoke a key at once")
    revoke_key.add_argument("key_id", type=int)
    list_keys = keys.add_parser("list", help="list a tenant's keys (never the keys themselves)")
    list_keys.add_argument("tenant_id")

    templates = groups.add_parser("templates", help="email templates").add_subparsers(
        dest="command", required=True
    )
    install = templates.add_parser(
        "install-examples", help="install the example email templates a tenant lacks"
    )
    install.add_argument("tenant_id")
    return parser


class CommandFailed(Exception):
    """A command that cannot do what was asked; the message says why (exit status 1)."""


async def _require_tenant(pool: Pool, tenant_id: str) -> None:
    if await tenancy.get_tenant(pool, tenant_id) is None:
        raise CommandFailed(f"no tenant {tenant_id!r}: create it with `tenants create`")


async def _create_tenant(pool: Pool, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    if not re.fullmatch(TENANT_ID_PATTERN, args.tenant_id):
        raise CommandFailed(f"invalid tenant id {args.tenant_id!r}: must match {TENANT_ID_PATTERN}")
    if args.timezone is not None:
        try:
            tenancy.valid_timezone(args.timezone)
        except ValueError as error:
            raise CommandFailed(f"--timezone: {error}") from None
    async with pool.acquire() as connection, connection.transaction():
        before = await tenancy.get_tenant(connection, args.tenant_id)
        await tenancy.create_tenant(connection, args.tenant_id, args.name, timezone=args.timezone)
        after = await tenancy.get_tenant(connection, args.tenant_id)
        if after is None:
            raise RuntimeError("the tenant just written is missing")
        await write_audit(
            connection,
            args.tenant_id,
            ACTOR,
            AuditChange(
                "update" if before else "create",
                "tenant",
                args.tenant_id,
                {"name": before.name, "timezone": before.timezone} if before else None,
                {"name": after.name, "timezone": after.timezone},
            ),
        )
    print(
        f"tenant {args.tenant_id} {'updated' if before else 'created'}: {after.name} "
        f"(time zone {after.timezone})",
        file=err,
    )
    if not args.no_example_templates:
        await _install_examples(pool, args, out, err)


async def _install_examples(pool: Pool, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    await _require_tenant(pool, args.tenant_id)
    installed = await install_example_templates(pool, args.tenant_id, actor=ACTOR)
    names = ", ".join(template.content.name for template in installed) or "none (all present)"
    print(f"example email templates installed: {names}", file=err)


async def _create_key(pool: Pool, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    await _require_tenant(pool, args.tenant_id)
    async with pool.acquire() as connection, connection.transaction():
        issued = await tenancy.issue_api_key(
            connection, args.tenant_id, role=args.role, label=args.label
        )
        info = issued.info
        await write_audit(
            connection,
            args.tenant_id,
            ACTOR,
            AuditChange(
                "create",
                "api_key",
                str(info.id),
                None,
                {"prefix": info.prefix, "role": info.role, "label": info.label},
            ),
        )
    print(
        f"key {info.id} ({info.role}) for tenant {info.tenant_id}; it is shown only this once:",
        file=err,
    )
    print(issued.key, file=out)


async def _revoke_key(pool: Pool, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    async with pool.acquire() as connection, connection.transaction():
        before = await tenancy.get_api_key(connection, args.key_id)
        info = await tenancy.revoke_api_key(connection, args.key_id)
        if before is None or info is None:
            raise CommandFailed(f"no API key {args.key_id}")
        if before.revoked_at is None:
            await write_audit(
                connection,
                info.tenant_id,
                ACTOR,
                AuditChange(
                    "revoke",
                    "api_key",
                    str(info.id),
                    {"revokedAt": None},
                    {"revokedAt": info.revoked_at.isoformat() if info.revoked_at else None},
                ),
            )
    state = "revoked" if before.revoked_at is None else "was already revoked"
    print(f"key {info.id} ({info.prefix}…, tenant {info.tenant_id}) {state}", file=err)


async def _list_keys(pool: Pool, args: argparse.Namespace, out: TextIO, err: TextIO) -> None:
    await _require_tenant(pool, args.tenant_id)
    rows = [("ID", "PREFIX", "ROLE", "LABEL", "CREATED", "REVOKED")]
    for key in await tenancy.list_api_keys(pool, args.tenant_id):
        rows.append(
            (
                str(key.id),
                key.prefix + "…",
                key.role,
                key.label or "-",
                key.created_at.isoformat(timespec="seconds"),
                key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "-",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)), file=out
        )


COMMANDS = {
    ("tenants", "create"): _create_tenant,
    ("keys", "create"): _create_key,
    ("keys", "revoke"): _revoke_key,
    ("keys", "list"): _list_keys,
    ("templates", "install-examples"): _install_examples,
}


async def _run(
    settings: ConfigApiSettings, args: argparse.Namespace, out: TextIO, err: TextIO
) -> None:
    command = COMMANDS[(args.group, args.command)]
    pool = await create_pool(settings.postgres, application_name="config-api-cli")
    try:
        await migrate(pool)
        await command(pool, args, out, err)
    finally:
        await pool.close()


def main(
    argv: Sequence[str],
    settings: ConfigApiSettings,
    *,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run one command; returns the exit status (0 done, 1 refused or failed, 2 bad usage)."""
    args = _parser().parse_args(list(argv))
    try:
        asyncio.run(_run(settings, args, out, err))
    except CommandFailed as failed:
        print(f"error: {failed}", file=err)
        return 1
    except (OSError, asyncpg.PostgresError) as error:
        print(f"error: the database at DATABASE_URL failed: {error}", file=err)
        return 1
    return 0
