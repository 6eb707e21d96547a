"""Execution retention against the real PostgreSQL: finished executions and their step logs older
than the window are deleted in batches; running, waiting and recent ones stay."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from services.executor.adapters.postgres import migrate
from services.executor.adapters.retention import delete_expired
from shared.postgres import Pool
from tests.integration.executor.conftest import StartExecutor

pytestmark = pytest.mark.integration

RETENTION_DAYS = 365
"""Far longer than any other test's rows are old: the session database is shared, and retention
deletes across tenants."""


async def insert(pool: Pool, tenant_id: str, *, status: str, age_days: int, steps: int = 2) -> str:
    execution_id = f"exe_{uuid.uuid4().hex}"
    finished = datetime.now(UTC) - timedelta(days=age_days)
    await pool.execute(
        "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type,"
        " event, status, created_at, finished_at)"
        " VALUES ($1, $2, 'wf_retained', 1, 'private_offer.accepted', '{}', $3, $4, $5)",
        execution_id,
        tenant_id,
        status,
        finished - timedelta(minutes=5),
        None if status in ("running", "waiting") else finished,
    )
    for index in range(steps):
        await pool.execute(
            "INSERT INTO execution_steps (execution_id, step_index, tenant_id, action_type,"
            " status, attempts, started_at, finished_at)"
            " VALUES ($1, $2, $3, 'webhook', 'succeeded', 1, $4, $4)",
            execution_id,
            index,
            tenant_id,
            finished,
        )
    return execution_id


async def remaining(pool: Pool, tenant_id: str) -> tuple[set[str], int]:
    ids = {
        row["id"]
        for row in await pool.fetch("SELECT id FROM executions WHERE tenant_id = $1", tenant_id)
    }
    steps = await pool.fetchval(
        "SELECT count(*) FROM execution_steps WHERE tenant_id = $1", tenant_id
    )
    return ids, steps


def deleted_rows(table: str) -> float:
    value = REGISTRY.get_sample_value("executor_retention_deleted_rows_total", {"table": table})
    return value or 0.0


async def test_retention_deletes_old_finished_executions_and_their_steps_in_batches(
    pool: Pool, tenant_id: str
) -> None:
    await migrate(pool)
    old = {
        status: await insert(pool, tenant_id, status=status, age_days=RETENTION_DAYS + 10)
        for status in ("succeeded", "succeeded_with_errors", "failed", "throttled", "exited")
    }
    kept = {
        await insert(pool, tenant_id, status="running", age_days=RETENTION_DAYS + 10),
        await insert(pool, tenant_id, status="waiting", age_days=RETENTION_DAYS + 10),
        await insert(pool, tenant_id, status="succeeded", age_days=RETENTION_DAYS - 10),
    }
    before = deleted_rows("executions"), deleted_rows("execution_steps")

    batches = []
    while (batch := await delete_expired(pool, days=RETENTION_DAYS, batch=2)) != (0, 0):
        batches.append(batch)

    assert batches == [(2, 4), (2, 4), (1, 2)]
    ids, steps = await remaining(pool, tenant_id)
    assert ids == kept
    assert steps == 2 * len(kept)
    assert not ids & set(old.values())
    assert (deleted_rows("executions"), deleted_rows("execution_steps")) == (
        before[0] + 5,
        before[1] + 10,
    )


async def test_the_executor_runs_retention_periodically(
    start_executor: StartExecutor, pool: Pool, tenant_id: str
) -> None:
    await migrate(pool)
    expired = {
        await insert(pool, tenant_id, status="failed", age_days=RETENTION_DAYS + 1)
        for _ in range(5)
    }
    kept = {
        await insert(pool, tenant_id, status="waiting", age_days=RETENTION_DAYS + 1),
        await insert(pool, tenant_id, status="succeeded", age_days=1),
    }
    await start_executor(
        execution_retention_days=RETENTION_DAYS,
        execution_retention_batch_size=2,
        execution_retention_interval_seconds=0.1,
    )
    async with asyncio.timeout(30):
        while (await remaining(pool, tenant_id))[0] & expired:
            await asyncio.sleep(0.1)
    ids, steps = await remaining(pool, tenant_id)
    assert ids == kept
    assert steps == 2 * len(kept)
