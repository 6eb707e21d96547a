"""The config API's named queries and migrations, and the pool its repositories share."""

from __future__ import annotations

from shared import tenancy
from shared.postgres import Pool, Queries, apply_migrations

QUERIES = Queries.load("services.config_api")


async def migrate(pool: Pool) -> None:
    """Apply the tables this service owns (and the tenancy tables it manages)."""
    await tenancy.migrate(pool)
    await apply_migrations(pool, owner="config_api", package="services.config_api")


class PoolHolder:
    """A repository's pool, attached once the service has connected (routes answer 503 before)."""

    def __init__(self, pool: Pool | None = None) -> None:
        self.pool = pool

    @property
    def _pool(self) -> Pool:
        if self.pool is None:
            raise RuntimeError("the repository is used before the service connected")
        return self.pool
