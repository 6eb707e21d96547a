"""PostgreSQL access: the pool, numbered migrations under an advisory lock, named SQL queries.

Each service owns its tables and keeps their DDL in ``<package>/sql/migrations/NNN_name.sql``
and their queries in ``<package>/sql/queries.sql``; this module only runs them.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

import asyncpg

from shared.settings import PostgresSettings, PostgresSslMode

log = logging.getLogger(__name__)

Pool = asyncpg.Pool
"""A pool of connections whose json/jsonb columns decode to Python objects."""

_MIGRATION_LOCK_ID = 0x5F1A_2B3C  # one advisory lock for every service's migrations
_MIGRATION_FILE = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")
_QUERY_NAME = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)


async def _init_connection(connection: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await connection.set_type_codec(
            name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )


def tls_option(settings: PostgresSettings) -> PostgresSslMode | ssl.SSLContext | None:
    """asyncpg's ``ssl`` argument from ``DB_SSLMODE`` / ``DB_SSL_ROOT_CERT``.

    None leaves it to the URL's ``sslmode`` (libpq's default, ``prefer``, when it has none).
    verify-ca and verify-full get a context of our own, so that the CA file (or, without one,
    the system's trust store) is what the certificate is checked against; verify-ca checks the
    chain only, verify-full the host name too. The other modes are libpq's, as asyncpg reads them.
    """
    mode = settings.db_sslmode
    if mode not in ("verify-ca", "verify-full"):
        return mode
    cafile = str(settings.db_ssl_root_cert) if settings.db_ssl_root_cert else None
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    context.check_hostname = mode == "verify-full"
    return context


async def create_pool(settings: PostgresSettings, *, application_name: str) -> Pool:
    """Open a pool; raises ``OSError`` (retried by the lifecycle) while the server is down."""
    return await asyncpg.create_pool(
        dsn=settings.database_url.get_secret_value(),
        ssl=tls_option(settings),
        min_size=settings.db_pool_min_size,
        max_size=settings.db_pool_max_size,
        init=_init_connection,
        server_settings={"application_name": application_name},
        timeout=10,
    )


async def postgres_reachable(pool: Pool) -> bool:
    """Readiness probe: does the database answer a trivial query within a second?"""
    return bool(await pool.fetchval("SELECT 1", timeout=1.0) == 1)


async def apply_migrations(pool: Pool, *, owner: str, package: str) -> list[str]:
    """Apply ``package``'s ``sql/migrations/NNN_*.sql`` not yet applied for ``owner``.

    Runs under one cluster-wide advisory lock, so services starting together (or two replicas of
    one) never race; each file runs in its own transaction with its bookkeeping row. Returns the
    names of the files applied now.
    """
    directory = files(package).joinpath("sql", "migrations")
    scripts = sorted(
        (entry.name, entry.read_text())
        for entry in directory.iterdir()
        if _MIGRATION_FILE.match(entry.name)
    )
    applied_now: list[str] = []
    async with pool.acquire() as connection:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK_ID)
        try:
            await connection.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       owner text NOT NULL,
                       version int NOT NULL,
                       name text NOT NULL,
                       applied_at timestamptz NOT NULL DEFAULT now(),
                       PRIMARY KEY (owner, version))"""
            )
            done = {
                row["version"]
                for row in await connection.fetch(
                    "SELECT version FROM schema_migrations WHERE owner = $1", owner
                )
            }
            for name, sql in scripts:
                version = int(name[:3])
                if version in done:
                    continue
                async with connection.transaction():
                    await connection.execute(sql)
                    await connection.execute(
                        "INSERT INTO schema_migrations (owner, version, name) VALUES ($1, $2, $3)",
                        owner,
                        version,
                        name,
                    )
                applied_now.append(name)
                log.info("migration applied", extra={"owner": owner, "migration": name})
        finally:
            await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK_ID)
    return applied_now


@dataclass(frozen=True, slots=True)
class Queries:
    """Named SQL statements read from a ``queries.sql`` (``-- name: x`` above each one)."""

    statements: dict[str, str]

    def __getattr__(self, name: str) -> str:
        try:
            return self.statements[name]
        except KeyError:
            raise AttributeError(f"no query named {name!r}") from None

    @classmethod
    def load(cls, package: str, filename: str = "queries.sql") -> Queries:
        text = files(package).joinpath("sql", filename).read_text()
        parts = _QUERY_NAME.split(text)
        statements = {
            name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)
        }
        return cls(statements)


def row_dict(record: asyncpg.Record | None) -> dict[str, Any] | None:
    return dict(record) if record is not None else None
