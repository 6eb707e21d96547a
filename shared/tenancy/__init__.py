"""Tenants and hashed API keys: the config API manages them, the API and ingest authenticate.

A key is shown once, when created; only its SHA-256 digest is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from typing import Literal

from shared.postgres import Pool, Queries, apply_migrations

Role = Literal["read-only", "read-write"]
_QUERIES = Queries.load("shared.tenancy")
KEY_PREFIX = "wfk_"


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


async def migrate(pool: Pool) -> None:
    await apply_migrations(pool, owner="tenancy", package="shared.tenancy")


async def authenticate(pool: Pool, raw_key: str) -> Principal | None:
    """The principal a bearer key stands for, or None for an unknown or revoked key."""
    row = await pool.fetchrow(_QUERIES.authenticate, hash_api_key(raw_key))
    if row is None:
        return None
    return Principal(tenant_id=row["tenant_id"], role=row["role"], key_id=row["id"])


async def create_tenant(pool: Pool, tenant_id: str, name: str | None = None) -> None:
    """Create the tenant, or rename it if it exists."""
    await pool.execute(_QUERIES.upsert_tenant, tenant_id, name or tenant_id)


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
