"""The product's records, read through the views the executor publishes (never written here)."""

from __future__ import annotations

import asyncpg

from services.config_api.adapters.postgres.pool import QUERIES, PoolHolder
from services.config_api.domain import Cursor, NotPublished, ProductRecord, ProductResource


class PostgresProductRecords(PoolHolder):
    """Implements ``handlers.ProductRecordReader`` over ``executor_published``; raises
    ``NotPublished`` (a 503) until the executor has published its views."""

    async def list(
        self,
        resource: ProductResource,
        tenant_id: str,
        *,
        filters: list[str | None],
        before: Cursor | None,
        limit: int,
    ) -> list[ProductRecord]:
        try:
            rows = await self._pool.fetch(
                getattr(QUERIES, resource.list_query),
                tenant_id,
                *filters,
                before.created_at if before else None,
                before.id if before else None,
                limit,
            )
        except asyncpg.UndefinedTableError:
            raise NotPublished("executor") from None
        return [ProductRecord(resource, dict(row)) for row in rows]

    async def get(
        self, resource: ProductResource, tenant_id: str, record_id: str
    ) -> ProductRecord | None:
        try:
            row = await self._pool.fetchrow(
                getattr(QUERIES, resource.get_query), tenant_id, record_id
            )
        except asyncpg.UndefinedTableError:
            raise NotPublished("executor") from None
        return ProductRecord(resource, dict(row)) if row is not None else None
