"""The record of published envelope ids (``ingest_published_events``), owned by ingest, and the
inbound hooks ingest reads through the config API's view (``config_api_published.workflow_hooks``).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg

from services.ingest.handlers import NotPublished, PublishedEvents, WorkflowHooks
from shared import tenancy
from shared.lifecycle import BackgroundLoop, is_connection_error
from shared.postgres import Pool, Queries, apply_migrations

log = logging.getLogger(__name__)

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
        await self._pool.execute(_QUERIES.remember, tenant_id, list(event_ids))

    async def purge_expired(self, limit: int) -> int:
        """Remove up to ``limit`` ids older than the window; how many were removed."""
        status = await self._pool.execute(_QUERIES.purge_expired, self.window_seconds, limit)
        return int(status.rpartition(" ")[2] or 0)


class PostgresWorkflowHooks(WorkflowHooks):
    """One index probe per request, by the token's digest: no cache, so a rotated-out token
    stops working at the moment the rotation commits. The pool is attached once the service
    connects."""

    def __init__(self) -> None:
        self.pool: Pool | None = None

    async def workflow_for(self, tenant_id: str, token: str) -> str | None:
        if self.pool is None:
            raise RuntimeError("the hooks are read before the service connected to PostgreSQL")
        try:
            digest = tenancy.hash_hook_token(token)
        except UnicodeEncodeError:  # a path that is not UTF-8 text cannot hold a token
            return None
        try:
            found = await self.pool.fetchval(_QUERIES.hook_workflow, digest, tenant_id)
        except (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError):
            raise NotPublished("the config API has not published its workflow hooks") from None
        return str(found) if found is not None else None


class PurgeLoop(BackgroundLoop):
    """Keeps ``ingest_published_events`` to the dedup window: expired rows are deleted in
    batches, again at once while a batch comes back full, else every ``interval`` seconds.

    An unreachable database is retried next round; any other failure stops the service.
    """

    def __init__(
        self,
        store: PostgresPublishedEvents,
        *,
        interval: float,
        batch: int = 10_000,
        grace_seconds: float = 20.0,
    ) -> None:
        super().__init__(name="published-events purge", grace_seconds=grace_seconds)
        self._store = store
        self._interval = interval
        self._batch = batch

    async def iteration(self) -> None:
        try:
            removed = await self._store.purge_expired(self._batch)
        except Exception as error:
            if not is_connection_error(error):
                raise
            log.warning("purge failed; retrying", extra={"error": repr(error)})
            removed = 0
        if removed < self._batch:
            await self.pause(self._interval)
