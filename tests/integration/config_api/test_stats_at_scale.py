"""The stats strip over a million executions, in a database of its own: the figures the API
gives are the ones computed here from how the rows were generated. (How long the query takes is
printed by ``python -m bench api``, never asserted.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from services.config_api.adapters.postgres import migrate
from services.config_api.service import ConfigApiService
from services.config_api.settings import ConfigApiSettings
from shared.postgres import Pool, apply_migrations, create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import throwaway_database
from tests.integration.config_api.support import Client, key_for

pytestmark = pytest.mark.integration

ROWS = 1_000_000
SPACING_SECONDS = 40 * 86400 / ROWS
"""Row i started i * 3.456 s before the anchor: forty days of history."""
GAP_SECONDS = 3600
"""No row starts within an hour of a window's edge, so the instant the API takes as "now" (a
little after the anchor) cannot move a row in or out of a window."""
WINDOWS = {"24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400}
TENANT, NOISE_TENANT = "stats-big", "stats-noise"

SEED = """
INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type, event,
                        status, created_at, finished_at)
SELECT 'exe_' || i,
       CASE WHEN i % 7 = 3 THEN $3 ELSE $1 END,
       CASE WHEN i % 4 = 0 THEN $2 ELSE 'wf_other_' || (i % 13) END,
       1, 'private_offer.accepted', '{}'::jsonb, s.status, started,
       CASE WHEN s.status IN ('running', 'waiting') THEN NULL
            ELSE started + make_interval(secs => ((i * 7919) % 60000 + 100) / 1000.0) END
FROM generate_series(0::bigint, $5 - 1) AS i,
     LATERAL (SELECT $4::timestamptz - make_interval(secs => i * $6::float8) AS started) t,
     LATERAL (SELECT CASE WHEN i % 20 < 14 THEN 'succeeded'
                          WHEN i % 20 = 14 THEN 'succeeded_with_errors'
                          WHEN i % 20 IN (15, 16) THEN 'failed'
                          WHEN i % 20 = 17 THEN 'throttled'
                          WHEN i % 20 = 18 THEN 'exited'
                          WHEN i % 40 = 19 THEN 'running'
                          ELSE 'waiting' END AS status) s
WHERE NOT (abs(i * $6::float8 - 86400) < $7 OR abs(i * $6::float8 - 604800) < $7
           OR abs(i * $6::float8 - 2592000) < $7)
"""


def status_of(i: int) -> str:
    rest = i % 20
    if rest < 14:
        return "succeeded"
    if rest == 14:
        return "succeeded_with_errors"
    if rest in (15, 16):
        return "failed"
    if rest == 17:
        return "throttled"
    if rest == 18:
        return "exited"
    return "running" if i % 40 == 19 else "waiting"


def percentile_cont(ordered: list[int], fraction: float) -> float:
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def expected(window_seconds: int) -> dict[str, Any]:
    """The figures of the target workflow's runs younger than ``window_seconds``."""
    counts: Counter[str] = Counter()
    durations: list[int] = []
    for i in range(0, ROWS, 4):  # the target workflow's rows
        age = i * SPACING_SECONDS
        if i % 7 == 3 or age >= window_seconds:
            continue
        if any(abs(age - edge) < GAP_SECONDS for edge in WINDOWS.values()):
            continue
        status = status_of(i)
        counts[status] += 1
        if status in ("succeeded", "succeeded_with_errors", "failed"):
            durations.append((i * 7919) % 60000 + 100)
    durations.sort()
    return {
        "counts": counts,
        "median": percentile_cont(durations, 0.5),
        "p95": percentile_cont(durations, 0.95),
    }


@pytest.fixture(scope="module")
async def big_database(postgres_server_url: str) -> AsyncIterator[str]:
    async with throwaway_database(postgres_server_url, "wf_stats_") as url:
        yield url


@pytest.fixture
async def big_pool(big_database: str) -> AsyncIterator[Pool]:
    pool = await create_pool(
        PostgresSettings(database_url=SecretStr(big_database), db_pool_max_size=2),
        application_name="tests",
    )
    try:
        yield pool
    finally:
        await pool.close()


async def test_stats_over_a_million_executions_are_exact(
    big_database: str, big_pool: Pool, kafka_settings: KafkaSettings
) -> None:
    await migrate(big_pool)
    await apply_migrations(big_pool, owner="executor", package="services.executor")
    service = ConfigApiService(
        ConfigApiSettings(
            host="127.0.0.1",
            port=0,
            kafka=kafka_settings,
            postgres=PostgresSettings(database_url=SecretStr(big_database), db_pool_max_size=2),
        )
    )
    async with service:
        client = Client(service, await key_for(big_pool, TENANT))
        workflow = await client.create()
        anchor = datetime.now(UTC)
        await big_pool.execute(
            SEED, TENANT, workflow["id"], NOISE_TENANT, anchor, ROWS, SPACING_SECONDS, GAP_SECONDS
        )
        await big_pool.execute("VACUUM ANALYZE executions")
        assert anchor + timedelta(seconds=GAP_SECONDS) > datetime.now(UTC), "seeded within the gap"

        for window, seconds in WINDOWS.items():
            status, stats = await client.request(
                "GET", f"/api/workflows/{workflow['id']}/stats?window={window}"
            )
            assert status == 200, stats
            wanted = expected(seconds)
            counts = wanted["counts"]
            completed = counts["succeeded"] + counts["succeeded_with_errors"] + counts["failed"]
            assert stats["byStatus"] == {
                status: counts[status]
                for status in (
                    "running",
                    "waiting",
                    "succeeded",
                    "succeeded_with_errors",
                    "failed",
                    "throttled",
                    "exited",
                )
            }
            assert stats["runs"] == sum(counts.values())
            assert (stats["failed"], stats["throttled"]) == (counts["failed"], counts["throttled"])
            assert stats["successRate"] == pytest.approx(counts["succeeded"] / completed)
            assert stats["durationMs"]["median"] == pytest.approx(wanted["median"])
            assert stats["durationMs"]["p95"] == pytest.approx(wanted["p95"])
            assert stats["lastRun"]["id"] == "exe_0"
        assert stats["runs"] > 150_000, "the 30-day window holds most of the workflow's rows"

        # The other tenant's rows under the same workflow id count for nothing here, nor can it
        # read this workflow's stats.
        other = Client(service, await key_for(big_pool, NOISE_TENANT))
        status, _ = await other.request("GET", f"/api/workflows/{workflow['id']}/stats")
        assert status == 404
