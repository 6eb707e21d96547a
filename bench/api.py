"""The config API's reads over a million executions: the stats strip and the runs page.

1,000,000 executions (one INSERT ... SELECT over generate_series) in a database of its own: one
tenant with 20 workflows over 40 days, a quarter of the rows in the workflow measured (a fifth
of its runs failed, 2 % throttled); plus another tenant's rows. Then, through the config API's own repository (the
queries the endpoints run), the median of several rounds of:

- ``GET /api/workflows/{id}/stats`` for each window (24h, 7d, 30d);
- ``GET /api/executions``: the first page, the first page of the ``failed`` tab, of one
  workflow, and the tenth page (cursor).

and each query's plan (``EXPLAIN (ANALYZE, BUFFERS)``), to show which index it used.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from pydantic import SecretStr

from services.config_api.adapters.postgres import QUERIES, PostgresRuns, migrate
from services.config_api.domain import Cursor
from services.config_api.domain.runs import STATS_WINDOWS, RunFilters
from shared.postgres import apply_migrations, create_pool
from shared.settings import PostgresSettings
from shared.testing import throwaway_database

ROWS = 1_000_000
TENANT, WORKFLOW = "bench-runs", "wf_measured"

SEED = """
INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type, event,
                        status, error, created_at, finished_at)
SELECT 'exe_' || i,
       CASE WHEN i % 9 = 5 THEN 'bench-other' ELSE $1 END,
       CASE WHEN i % 4 = 0 THEN $2 ELSE 'wf_' || (i % 19) END,
       1, 'private_offer.accepted', '{"type": "private_offer.accepted"}'::jsonb, s.status,
       CASE WHEN s.status = 'failed'
            THEN '{"code": "webhook_rejected", "message": "410"}'::jsonb END,
       started,
       CASE WHEN s.status = 'running' THEN NULL
            ELSE started + make_interval(secs => ((i * 7919) % 60000 + 100) / 1000.0) END
FROM generate_series(0::bigint, $3 - 1) AS i,
     LATERAL (SELECT $4::timestamptz - make_interval(secs => i * 3.456) AS started) t,
     LATERAL (SELECT CASE WHEN i % 20 = 8 THEN 'failed'
                          WHEN i % 50 = 12 THEN 'throttled'
                          WHEN i % 1000 = 4 THEN 'running'
                          ELSE 'succeeded' END AS status) s
"""


def fresh_database(server_url: str) -> contextlib.AbstractAsyncContextManager[str]:
    return throwaway_database(server_url, "bench_api_")


async def median_ms(rounds: int, call: Callable[[], Awaitable[Any]]) -> float:
    await call()  # warm: the plan cache and the buffer cache
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        await call()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings)


async def plan(connection: asyncpg.Connection, query: str, *arguments: Any) -> list[str]:
    """The plan's lines that name a scan, and its execution time."""
    rows = await connection.fetch(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + query.rstrip().rstrip(";"), *arguments
    )
    lines = [row[0] for row in rows]
    return [
        line.strip()
        for line in lines
        if "Scan" in line or "Execution Time" in line or "Heap Fetches" in line
    ]


async def run(server_url: str, *, rounds: int) -> None:
    async with fresh_database(server_url) as database_url:
        postgres = PostgresSettings(database_url=SecretStr(database_url), db_pool_max_size=2)
        pool = await create_pool(postgres, application_name="bench")
        try:
            await migrate(pool)
            await apply_migrations(pool, owner="executor", package="services.executor")
            now = datetime.now(UTC)
            started = time.perf_counter()
            await pool.execute(SEED, TENANT, WORKFLOW, ROWS, now)
            await pool.execute("VACUUM ANALYZE executions")
            print(
                f"API seeded {ROWS:,} executions (40 days) in {time.perf_counter() - started:.1f} s"
            )
            runs = PostgresRuns(changes_written=asyncio.Event(), pool=pool)
            async with pool.acquire() as connection:
                for window, span in STATS_WINDOWS.items():
                    figures = await runs.stats(
                        TENANT, WORKFLOW, window=window, since=now - span, until=now
                    )
                    took = await median_ms(
                        rounds,
                        lambda span=span, window=window: runs.stats(
                            TENANT, WORKFLOW, window=window, since=now - span, until=now
                        ),
                    )
                    print(
                        f"API stats {window:<4} {figures.runs:>9,} runs in window   "
                        f"{took:>8.1f} ms  (median of {rounds}; p95 "
                        f"{figures.p95_ms or 0:,.0f} ms, success {figures.success_rate or 0:.3f})"
                    )
                for line in await plan(
                    connection,
                    QUERIES.workflow_stats,
                    TENANT,
                    WORKFLOW,
                    now - STATS_WINDOWS["30d"],
                    now,
                ):
                    print(f"      {line}")

                tenth: Cursor | None = None
                page = None
                for _ in range(10):
                    page = await runs.list_runs(TENANT, RunFilters(), before=tenth, limit=51)
                    tenth = Cursor(page[49].created_at, page[49].id)
                cases: list[tuple[str, RunFilters, Cursor | None]] = [
                    ("first page", RunFilters(), None),
                    ("failed tab", RunFilters(status="failed"), None),
                    ("one workflow", RunFilters(workflow_id=WORKFLOW), None),
                    ("tenth page", RunFilters(), tenth),
                    (
                        "failed, 7 days ago",
                        RunFilters(status="failed", until=now - timedelta(days=7)),
                        None,
                    ),
                ]
                for label, filters, before in cases:
                    took = await median_ms(
                        rounds,
                        lambda filters=filters, before=before: runs.list_runs(
                            TENANT, filters, before=before, limit=51
                        ),
                    )
                    print(f"API runs  {label:<20} 50 rows   {took:>8.1f} ms  (median of {rounds})")
                async with connection.transaction():
                    await connection.execute("SET LOCAL plan_cache_mode = force_custom_plan")
                    lines = await plan(
                        connection,
                        QUERIES.list_runs,
                        TENANT, "failed", None, None, None, None, None, None, 51,
                    )  # fmt: skip
                for line in lines:
                    print(f"      {line}")
        finally:
            await pool.close()
