"""The scheduler's named queries and migrations (with the tenancy view it reads)."""

from __future__ import annotations

from shared import tenancy
from shared.postgres import Pool, Queries, apply_migrations

QUERIES = Queries.load("services.scheduler")


async def migrate(pool: Pool) -> None:
    """The scheduler's own tables, after the tenancy tables whose view it reads."""
    await tenancy.migrate(pool)
    await apply_migrations(pool, owner="scheduler", package="services.scheduler")


async def gauges(pool: Pool) -> tuple[int, int]:
    """(timers pending, active contracts): exact counts, for the gauges."""
    row = await pool.fetchrow(QUERIES.gauges)
    if row is None:
        raise RuntimeError("a SELECT of two counts returned no row")
    return int(row["timers_pending"]), int(row["contracts_tracked"])
