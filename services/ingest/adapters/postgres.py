"""The record of published envelope ids (``ingest_published_events``), owned by ingest."""

from __future__ import annotations

from collections.abc import Sequence

from services.ingest.handlers import PublishedEvents
from shared.postgres import Pool, Queries, apply_migrations

_QUERIES = Queries.load("services.ingest")


async def migrate(pool: Pool) -> None:
    await apply_migrations(pool, owner="ingest", package="services.ingest")


class PostgresPublishedEvents(PublishedEvents):
    """Ids published within ``window_seconds``; the pool is attached once the service connects."""

    def __init__(self, window_seconds: float) -> None:
        self.window_seconds = window_seconds
        self.pool: Pool | None = None

    @property
    def _pool(self) -> Pool:
        if self.pool is None:
            raise RuntimeError("the store is used before the service connected to PostgreSQL")
        return self.pool

    async def published(self, tenant_id: str, event_ids: Sequence[str]) -> set[str]:
        rows = await self._pool.fetch(
            _QUERIES.published, tenant_id, list(event_ids), self.window_seconds
        )
        return {row["event_id"] for row in rows}

    async def remember(self, tenant_id: str, event_ids: Sequence[str]) -> None:
        await self._pool.execute(
            _QUERIES.remember,
            tenant_id,
            list(event_ids),
            self.window_seconds,
            2 * len(event_ids),
        )
