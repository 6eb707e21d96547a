"""A ``delay`` step through the real scheduler: the executor parks the execution on
``executions.deferred``, stops; the scheduler stores the durable timer and hands the request back
on ``executions.requested`` when it is due; the executor, started again, resumes at the next step.

Both services run as real processes; the order (the scheduler starts only once the executor has
parked and stopped, the executor again only once the timer fired) makes every hand-over happen
across a restart, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg
import pytest

from shared.postgres import Pool
from shared.testing import produce_requests, webhook_requests
from tests.e2e.conftest import Stack, WebhookSink, metric

pytestmark = pytest.mark.e2e


async def row_of(pool: Pool, execution_id: str, status: str) -> asyncpg.Record:
    """The execution's row once it has ``status`` (bounded)."""
    async with asyncio.timeout(60):
        while True:
            row = await pool.fetchrow("SELECT * FROM executions WHERE id = $1", execution_id)
            if row is not None and row["status"] == status:
                return row
            await asyncio.sleep(0.1)


async def test_a_delay_parks_in_the_schedulers_timer_and_resumes_at_the_next_step_after_a_restart(
    stack: Stack, pool: Pool, tenant_id: str, webhook_sink: WebhookSink
) -> None:
    [request] = webhook_requests(
        tenant_id,
        webhook_sink.url,
        f"wf-delay-{uuid.uuid4().hex[:6]}",
        1,
        actions=[
            {"type": "webhook", "url": webhook_sink.url},
            {"type": "delay", "duration": "2 seconds"},
            {"type": "webhook", "url": webhook_sink.url},
        ],
    )
    execution = request.execution_id
    prefix, bootstrap = stack.env["TOPIC_PREFIX"], stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    executor_env = {"EXECUTOR_CONSUMER_GROUP": f"executor-{prefix}"}
    stack.start("executor", **executor_env)
    await stack.wait_ready("executor", within=90)
    await produce_requests(bootstrap, prefix, [request])

    # Parked: the delay step waits, the execution names its timer; then the executor stops.
    waiting = await row_of(pool, execution, "waiting")
    assert (waiting["wait_reason"], waiting["resume_step"]) == ("delay", 2)
    await webhook_sink.wait_for(1)
    assert stack.stop("executor") == 0

    # The scheduler, started now, reads the parked request, stores its timer and fires it.
    stack.start("scheduler", SCHEDULER_TIMER_MAX_SLEEP_SECONDS="0.5")
    await stack.wait_ready("scheduler", within=90)
    async with asyncio.timeout(60):
        while await metric(stack, "scheduler", "scheduler_timers_fired_total") < 1:
            await asyncio.sleep(0.1)
    stored = await pool.fetchval(
        "SELECT count(*) FROM timers WHERE timer_id = $1", waiting["timer_id"]
    )
    assert stored == 0, "a fired timer is deleted"
    assert [h["webhook-id"] for h in webhook_sink.headers] == [f"{execution}:0"]

    # The executor comes back and runs the step after the delay, once.
    stack.start("executor", **executor_env)
    await stack.wait_ready("executor", within=90)
    await row_of(pool, execution, "succeeded")
    await webhook_sink.wait_for(2)
    assert [h["webhook-id"] for h in webhook_sink.headers] == [f"{execution}:0", f"{execution}:2"]
    assert webhook_sink.received[1]["executionId"] == execution
    steps = await pool.fetch(
        "SELECT step_index, status, started_at, finished_at FROM execution_steps"
        " WHERE execution_id = $1 ORDER BY step_index",
        execution,
    )
    assert [(s["step_index"], s["status"]) for s in steps] == [
        (0, "succeeded"),
        (1, "succeeded"),
        (2, "succeeded"),
    ]
    due_at = waiting["due_at"]
    assert due_at == steps[1]["started_at"] + timedelta(seconds=2)
    assert steps[2]["started_at"] >= due_at, "the next step never runs before the delay is over"
