"""Durable timers against the real broker and PostgreSQL: parked requests stored from
executions.deferred and handed back, unchanged, on executions.requested when due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from services.scheduler.settings import SchedulerSettings
from shared.contracts import DeferredExecution, ExecutionDeadLetter, ExecutionRequest, Topics
from shared.kafka import Outgoing
from shared.postgres import Pool
from tests.integration.scheduler.support import (
    HandClock,
    Tail,
    eventually,
    parked,
    publish,
    replicas,
)

pytestmark = pytest.mark.integration

START = datetime(2030, 3, 1, 9, tzinfo=UTC)


def deferred_records(topics: Topics, *items: DeferredExecution) -> list[Outgoing]:
    return [
        Outgoing.of(topics.executions_deferred, item, key=item.request.workflow_id)
        for item in items
    ]


async def test_due_timers_go_back_unchanged_and_the_later_record_for_a_timer_wins(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    topics = Topics(settings.kafka.topic_prefix)
    clock = HandClock(START)
    due_now = parked(tenant_id, 1, START - timedelta(seconds=1))
    later = parked(tenant_id, 2, START + timedelta(minutes=5))
    first_park = parked(tenant_id, 3, START - timedelta(seconds=2), timer="queued")
    parked_again = parked(tenant_id, 3, START + timedelta(minutes=1), timer="queued", step=2)
    async with (
        replicas(settings, clock) as [scheduler],
        Tail(settings.kafka, topics.executions_requested) as requested,
    ):
        records = deferred_records(topics, due_now, later, first_park, parked_again, due_now)
        await publish(settings.kafka, records)
        await requested.until(1, "the due timer is handed back")

        async def two_left() -> bool:
            return bool(await pool.fetchval("SELECT count(*) FROM timers") == 2)

        await eventually(two_left, "the fired timer is deleted")
        clock.now = START + timedelta(minutes=1, seconds=1)
        await requested.until(2, "the re-parked timer is handed back at its new time")
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{scheduler.http.bound_port}/metrics"
            metrics = await (await http.get(url)).text()
        left = await pool.fetch("SELECT timer_id, due_at FROM timers")

    [(_, first), (_, second)] = requested.records
    assert first.value == due_now.request.model_dump_json(by_alias=True).encode()
    assert first.key == due_now.request.workflow_id.encode()
    assert ExecutionRequest.model_validate_json(first.value) == due_now.request
    assert ExecutionRequest.model_validate_json(second.value) == parked_again.request
    assert [(row["timer_id"], row["due_at"]) for row in left] == [
        (later.resumption.timer_id, later.resumption.due_at)
    ]
    assert "scheduler_timers_fired_total 2.0" in metrics
    assert "scheduler_timer_lateness_seconds_bucket" in metrics
    assert "scheduler_timers_pending" in metrics


async def test_a_timer_two_seconds_ahead_fires_on_time_after_a_restart(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    """On the real clock: stored by one scheduler, which stops; fired by the next one."""
    topics = Topics(settings.kafka.topic_prefix)
    real_clock = settings.model_copy(update={"timer_max_sleep_seconds": 1.0})
    async with Tail(settings.kafka, topics.executions_requested) as requested:
        async with replicas(real_clock, lambda: datetime.now(UTC)):
            due_at = datetime.now(UTC) + timedelta(seconds=2)
            timer = parked(tenant_id, 7, due_at)
            await publish(settings.kafka, deferred_records(topics, timer))

            async def stored() -> bool:
                return bool(await pool.fetchval("SELECT count(*) FROM timers") == 1)

            await eventually(stored, "the timer is stored")
        assert requested.records == [], "nothing fires early"
        async with replicas(real_clock, lambda: datetime.now(UTC)):
            await requested.until(1, "the timer fires after the restart")
    [(arrived, record)] = requested.records
    lateness = arrived - due_at.timestamp()
    print(f"timer fired {lateness:+.3f} s after its due time (restart in between)")
    assert ExecutionRequest.model_validate_json(record.value) == timer.request
    assert arrived >= due_at.timestamp() - 0.05  # never early (same machine's clock)
    assert lateness < 15, "fired, if late: the bound only catches a timer left to a poll"


async def test_a_record_that_is_not_a_deferred_execution_is_dead_lettered_and_the_rest_flow(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    topics = Topics(settings.kafka.topic_prefix)
    clock = HandClock(START)
    no_resumption = parked(tenant_id, 1, START).request.model_copy(update={"resumption": None})
    garbage = [
        Outgoing(topics.executions_deferred, b"{not json", b"wf_0"),
        Outgoing(topics.executions_deferred, no_resumption.model_dump_json().encode(), b"wf_1"),
    ]
    good = parked(tenant_id, 2, START - timedelta(seconds=1))
    async with (
        replicas(settings, clock),
        Tail(settings.kafka, topics.executions_deadletter) as dead,
        Tail(settings.kafka, topics.executions_requested) as requested,
    ):
        await publish(settings.kafka, [*garbage, *deferred_records(topics, good)])
        await dead.until(2, "both bad records are dead-lettered")
        await requested.until(1, "the good one still fires")
    letters = [ExecutionDeadLetter.model_validate_json(r.value) for _, r in dead.records]
    assert {letter.error["code"] for letter in letters} == {"invalid_deferred_execution"}
    assert sorted(letter.received or "" for letter in letters)[1] == "{not json"
    assert sorted(r.key for _, r in dead.records) == [b"wf_0", b"wf_1"]
    assert ExecutionRequest.model_validate_json(requested.records[0][1].value) == good.request
