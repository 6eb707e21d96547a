"""The matcher's own tables: enrollment state for workflows that run once per subject."""

from __future__ import annotations

from collections.abc import Sequence

from services.matcher.domain import EnrollmentKey
from shared.postgres import Pool, Queries, apply_migrations

_QUERIES = Queries.load("services.matcher")


async def migrate(pool: Pool) -> None:
    await apply_migrations(pool, owner="matcher", package="services.matcher")


class PostgresEnrollments:
    """Implements ``handlers.Enrollments`` with one upsert per key, in one transaction."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def enrolled(self, keys: Sequence[EnrollmentKey]) -> list[bool]:
        async with self._pool.acquire() as connection, connection.transaction():
            admitted = []
            for key in keys:
                execution_id = await connection.fetchval(
                    _QUERIES.enroll, key.tenant_id, key.workflow_id, key.subject, key.execution_id
                )
                admitted.append(execution_id == key.execution_id)
        return admitted
