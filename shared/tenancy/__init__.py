"""Tenants, hashed API keys and per-source inbound secrets, shared by the config API and ingest.

The config API manages them; the API and ingest authenticate with keys, and ingest verifies
inbound webhooks with the secrets. A key is shown once, when created; only its SHA-256 digest is
stored. An inbound secret is stored as given (signatures are computed with it) and only ingest
reads it back. A tenant's time zone (an IANA name, UTC by default) is published to the other
services through the ``tenant_settings`` view (``tenant_timezones``); the scheduler counts the
tenant's calendar days in it.

A workflow triggered by ``webhook.received`` has an inbound hook token: issued by the config API
(``new_hook_token``), shown once, stored as its SHA-256 digest (``hash_hook_token``), which is
what ingest looks the token up by.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, get_args

import asyncpg

from shared.postgres import Pool, Queries, apply_migrations

# Re-exported: the zone rule tenants follow (one rule, in ``shared.timezones``).
from shared.timezones import MAX_TIMEZONE_LENGTH as MAX_TIMEZONE_LENGTH
from shared.timezones import valid_timezone as valid_timezone

Role = Literal["read-only", "read-write"]
ROLES: tuple[Role, ...] = get_args(Role)
InboundSource = Literal["hubspot", "aws", "azure", "salesforce", "native"]
INBOUND_SOURCES: tuple[InboundSource, ...] = get_args(InboundSource)
"""The sources ingest accepts webhooks from, each with its own secret per tenant (SPEC §2.2)."""
_QUERIES = Queries.load("shared.tenancy")
KEY_PREFIX = "wfk_"
HOOK_TOKEN_PREFIX = "wfh_"  # noqa: S105 - a prefix, not a secret


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the tenant a key belongs to and what it may do."""

    tenant_id: str
    role: Role
    key_id: int

    @property
    def actor(self) -> str:
        """How audit records and ``createdBy`` name this caller."""
        return f"api-key:{self.key_id}"

    @property
    def can_write(self) -> bool:
        return self.role == "read-write"


def hash_api_key(raw_key: str) -> bytes:
    return hashlib.sha256(raw_key.encode()).digest()


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def new_hook_token() -> str:
    """A workflow's inbound hook token: 32 random bytes, URL-safe (it is a path segment)."""
    return HOOK_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_hook_token(raw_token: str) -> bytes:
    """The digest a hook token is stored and looked up by; raises ``UnicodeEncodeError`` for
    text that cannot be one (a lone surrogate)."""
    return hashlib.sha256(raw_token.encode()).digest()


async def migrate(pool: Pool) -> None:
    await apply_migrations(pool, owner="tenancy", package="shared.tenancy")


async def authenticate(pool: Pool, raw_key: str) -> Principal | None:
    """The principal a bearer key stands for, or None for an unknown or revoked key."""
    try:
        digest = hash_api_key(raw_key)
    except UnicodeEncodeError:  # header bytes that are not UTF-8 cannot be one of our keys
        return None
    row = await pool.fetchrow(_QUERIES.authenticate, digest)
    if row is None:
        return None
    return Principal(tenant_id=row["tenant_id"], role=row["role"], key_id=row["id"])


async def create_tenant(
    pool: Queryable, tenant_id: str, name: str | None = None, *, timezone: str | None = None
) -> None:
    """Create the tenant, or rename it if it exists (``pool`` may be a connection); set its time
    zone when one is given (validate it first with ``valid_timezone``)."""
    await pool.execute(_QUERIES.upsert_tenant, tenant_id, name or tenant_id)
    if timezone is not None:
        await pool.execute(_QUERIES.update_tenant, tenant_id, None, timezone)


async def create_api_key(
    pool: Pool,
    tenant_id: str,
    *,
    role: Role = "read-write",
    raw_key: str | None = None,
    label: str = "",
) -> str:
    """Store a key for ``tenant_id`` and return it (the only time it is visible).

    ``raw_key`` lets the development stack install a known key; an existing identical key is
    left as it is.
    """
    key = raw_key or new_api_key()
    await pool.execute(_QUERIES.insert_api_key, hash_api_key(key), key[:8], tenant_id, role, label)
    return key


class Queryable(Protocol):
    """A pool or one of its connections (inside a transaction): what these functions run on."""

    async def execute(self, query: str, *args: object) -> str: ...

    async def fetch(self, query: str, *args: object) -> list[asyncpg.Record]: ...

    async def fetchrow(self, query: str, *args: object) -> asyncpg.Record | None: ...


@dataclass(frozen=True, slots=True)
class Tenant:
    id: str
    name: str
    created_at: datetime
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    """Everything about a key except the key: safe to list and to log."""

    id: int
    tenant_id: str
    prefix: str
    role: Role
    label: str
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A key just created: ``key`` is visible this once and never again."""

    key: str
    info: ApiKeyInfo


def _key_info(row: asyncpg.Record) -> ApiKeyInfo:
    return ApiKeyInfo(
        id=row["id"],
        tenant_id=row["tenant_id"],
        prefix=row["key_prefix"],
        role=row["role"],
        label=row["label"],
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def _tenant(row: asyncpg.Record) -> Tenant:
    return Tenant(row["id"], row["name"], row["created_at"], row["timezone"])


async def get_tenant(db: Queryable, tenant_id: str) -> Tenant | None:
    row = await db.fetchrow(_QUERIES.get_tenant, tenant_id)
    return _tenant(row) if row is not None else None


async def update_tenant(
    db: Queryable, tenant_id: str, *, name: str | None = None, timezone: str | None = None
) -> Tenant | None:
    """Rename the tenant and/or set its time zone (None leaves a field as it is); None if there
    is no such tenant."""
    row = await db.fetchrow(_QUERIES.update_tenant, tenant_id, name, timezone)
    return _tenant(row) if row is not None else None


async def tenant_timezones(db: Queryable) -> dict[str, str]:
    """Every tenant's IANA time zone, read through the published ``tenant_settings`` view."""
    return {row["tenant_id"]: row["timezone"] for row in await db.fetch(_QUERIES.tenant_timezones)}


async def tenant_timezone(db: Queryable, tenant_id: str) -> str | None:
    """The tenant's IANA time zone (``tenant_settings``); None if there is no such tenant."""
    row = await db.fetchrow(_QUERIES.tenant_timezone, tenant_id)
    return str(row["timezone"]) if row is not None else None


async def issue_api_key(
    db: Queryable, tenant_id: str, *, role: Role = "read-write", label: str = ""
) -> IssuedApiKey:
    """Create a new random key for an existing tenant.

    Raises ``asyncpg.ForeignKeyViolationError`` when the tenant does not exist.
    """
    key = new_api_key()
    key_id = await db.fetchrow(
        _QUERIES.insert_api_key, hash_api_key(key), key[:8], tenant_id, role, label
    )
    if key_id is None:  # a 256-bit collision: not in this universe
        raise RuntimeError("a freshly generated API key already exists")
    row = await db.fetchrow(_QUERIES.get_api_key, key_id["id"])
    if row is None:
        raise RuntimeError("the key just inserted is missing")
    return IssuedApiKey(key=key, info=_key_info(row))


async def get_api_key(db: Queryable, key_id: int) -> ApiKeyInfo | None:
    row = await db.fetchrow(_QUERIES.get_api_key, key_id)
    return _key_info(row) if row is not None else None


async def list_api_keys(db: Queryable, tenant_id: str) -> list[ApiKeyInfo]:
    """Every key of the tenant, revoked ones included, oldest first."""
    return [_key_info(row) for row in await db.fetch(_QUERIES.list_api_keys, tenant_id)]


async def revoke_api_key(db: Queryable, key_id: int) -> ApiKeyInfo | None:
    """Revoke a key (idempotent: the first revocation time stays); None if there is no such key.

    A revoked key stops authenticating at once: ``authenticate`` reads the table on every call.
    """
    row = await db.fetchrow(_QUERIES.revoke_api_key, key_id)
    return _key_info(row) if row is not None else None


@dataclass(frozen=True, slots=True)
class InboundSecretStatus:
    """That a source's secret is set, and since when: everything shown about it."""

    source: InboundSource
    created_at: datetime
    updated_at: datetime


def _secret_status(row: asyncpg.Record) -> InboundSecretStatus:
    return InboundSecretStatus(row["source"], row["created_at"], row["updated_at"])


async def set_inbound_secret(
    db: Queryable, tenant_id: str, source: InboundSource, secret: str
) -> InboundSecretStatus:
    """Set or replace the tenant's secret for ``source``."""
    row = await db.fetchrow(_QUERIES.upsert_inbound_secret, tenant_id, source, secret)
    if row is None:
        raise RuntimeError("INSERT ... RETURNING gave no row")
    return _secret_status(row)


async def inbound_secret_statuses(db: Queryable, tenant_id: str) -> list[InboundSecretStatus]:
    """Which sources have a secret set for the tenant (never the secrets themselves)."""
    return [
        _secret_status(row) for row in await db.fetch(_QUERIES.inbound_secret_statuses, tenant_id)
    ]


async def delete_inbound_secret(db: Queryable, tenant_id: str, source: InboundSource) -> bool:
    """Remove the secret; False if none was set."""
    return await db.fetchrow(_QUERIES.delete_inbound_secret, tenant_id, source) is not None


async def inbound_secret(db: Queryable, tenant_id: str, source: InboundSource) -> str | None:
    """The secret ingest verifies ``source``'s requests for the tenant with, if one is set."""
    row = await db.fetchrow(_QUERIES.get_inbound_secret, tenant_id, source)
    return str(row["secret"]) if row is not None else None
