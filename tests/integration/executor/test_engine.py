"""The execution engine against the real broker and PostgreSQL: delays in durable timers, exact
rate limits (drop and queue, in order), no head-of-line blocking, leases, destination pauses,
onError, notifyOnFailure once, exit conditions.

The scheduler's durable timers are stood in for by ``TimerRelay`` (``timers`` fixture), which
can ``hold()`` what comes due until a test releases it.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from services.executor.adapters.postgres import PostgresExecutionStore
from services.executor.domain import admissions_over_limit
from services.executor.service import ExecutorService
from shared.contracts import CloudEvent, DeferredExecution, ExecutionDeadLetter, ExecutionRequest
from shared.kafka import tenant_partition
from shared.postgres import Pool, create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import TimerRelay
from tests.integration.executor.conftest import (
    WAIT_SECONDS,
    Receiver,
    RecordingNotifier,
    StartExecutor,
    a_request,
    as_record,
    committed,
    committed_offsets,
    dead_lettered_execution,
    dead_letters,
    finished_execution,
    produce,
    publish_event,
    steps_of,
)

pytestmark = pytest.mark.integration

HOUR = timedelta(hours=1)


async def parked_records(
    relay: TimerRelay, execution_id: str, count: int
) -> list[DeferredExecution]:
    """The first ``count`` parked records of an execution the timers have read."""
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            found = [p for p in relay.parked if p.request.execution_id == execution_id]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)


async def status_of(pool: Pool, execution_id: str, status: str) -> asyncpg.Record:
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            row = await pool.fetchrow("SELECT * FROM executions WHERE id = $1", execution_id)
            if row is not None and row["status"] == status:
                return row
            await asyncio.sleep(0.02)


async def fill_window(pool: Pool, tenant_id: str, workflow_id: str, *ages: timedelta) -> None:
    """Admissions the workflow made ``ages`` ago (finished executions)."""
    now = await pool.fetchval("SELECT clock_timestamp()")
    for age in ages:
        await pool.execute(
            "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type,"
            " event, status, admitted_at, finished_at)"
            " VALUES ($1, $2, $3, 1, 'private_offer.accepted', '{}', 'succeeded', $4, $4)",
            f"exe_old_{uuid.uuid4().hex}",
            tenant_id,
            workflow_id,
            now - age,
        )


async def test_a_delay_parks_the_execution_and_the_next_step_runs_when_it_is_due_even_after_a_restart(
    start_executor: StartExecutor,
    timers: TimerRelay,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    request = a_request(
        tenant_id,
        actions=[
            {"type": "webhook", "url": receiver.url("before")},
            {"type": "delay", "duration": "2 seconds"},
            {"type": "webhook", "url": receiver.url("after")},
        ],
    )
    timers.hold()
    executor = await start_executor()
    await produce(kafka_settings, as_record(request))

    waiting = await status_of(pool, request.execution_id, "waiting")
    assert (waiting["wait_reason"], waiting["resume_step"]) == ("delay", 2)
    [parked] = await parked_records(timers, request.execution_id, 1)
    resumption = parked.resumption
    assert (resumption.reason, resumption.step, resumption.timer_id) == (
        "delay",
        2,
        waiting["timer_id"],
    )
    before, delay = await steps_of(pool, request.execution_id)
    assert before["status"] == "succeeded"
    assert delay["status"] == "waiting"
    assert delay["request"] == {"duration": "2 seconds", "dueAt": resumption.due_at.isoformat()}
    assert resumption.due_at - delay["started_at"] == timedelta(seconds=2)

    # Every process restarts while it waits; the original request is delivered again.
    await executor.stop()
    executor = await start_executor()
    await produce(kafka_settings, as_record(request))
    again = await parked_records(timers, request.execution_id, 2)
    assert {p.resumption.timer_id for p in again} == {resumption.timer_id}
    await committed(kafka_settings, executor.settings.consumer_group, 2)
    assert receiver.at("after") == []
    assert (await status_of(pool, request.execution_id, "waiting"))["resume_step"] == 2

    timers.release()
    assert (await finished_execution(pool, request.execution_id))["status"] == "succeeded"
    [after] = receiver.at("after")
    assert after.at >= resumption.due_at
    assert after.headers["webhook-id"] == f"{request.execution_id}:2"
    assert [s["status"] for s in await steps_of(pool, request.execution_id)] == ["succeeded"] * 3
    assert len(receiver.at("before")) == 1


async def test_drop_records_the_runs_over_the_limit_as_throttled_and_performs_nothing_for_them(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    settings = {"maxExecutionsPerHour": 2, "throttleAction": "drop"}
    requests = [
        a_request(tenant_id, receiver.url("limited"), workflow_id=workflow_id, settings=settings)
        for _ in range(5)
    ]
    await produce(kafka_settings, *(as_record(r) for r in requests))

    rows = [await finished_execution(pool, r.execution_id) for r in requests]
    assert sorted(row["status"] for row in rows) == ["succeeded"] * 2 + ["throttled"] * 3
    assert len(receiver.at("limited")) == 2
    for row in rows:
        if row["status"] == "throttled":
            assert row["admitted_at"] is None
            assert await steps_of(pool, row["id"]) == []

    await produce(kafka_settings, *(as_record(r) for r in requests))  # redelivered: no change
    await committed(kafka_settings, executor.settings.consumer_group, 10)
    assert len(receiver.at("limited")) == 2


async def test_queued_runs_wait_for_room_in_the_rolling_hour_and_run_in_order(
    start_executor: StartExecutor,
    timers: TimerRelay,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    executor = await start_executor()
    workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
    # The window is full for the next half hour.
    await fill_window(pool, tenant_id, workflow_id, *(timedelta(minutes=30 + n) for n in range(3)))
    settings = {"maxExecutionsPerHour": 3, "throttleAction": "queue"}
    requests = [
        a_request(tenant_id, receiver.url("queued"), workflow_id=workflow_id, settings=settings)
        for _ in range(3)
    ]
    await produce(kafka_settings, *(as_record(r) for r in requests))

    parked = []
    for request in requests:
        row = await status_of(pool, request.execution_id, "waiting")
        assert row["wait_reason"] == "queue"
        [timer] = await parked_records(timers, request.execution_id, 1)
        assert timer.resumption.due_at > datetime.now(UTC) + timedelta(minutes=25)
        parked.append(timer)
    assert receiver.at("queued") == []

    # Half an hour on (a new executor: time is made to pass in the database), the window
    # empties, and the timers come due last first.
    await executor.stop()
    await start_executor()
    await pool.execute(
        "UPDATE executions SET admitted_at = admitted_at - interval '1 hour'"
        " WHERE workflow_id = $1 AND id LIKE 'exe_old_%'",
        workflow_id,
    )
    for timer in reversed(parked):
        await produce(kafka_settings, (timer.request.model_dump_json().encode(), None))

    rows = [await finished_execution(pool, r.execution_id) for r in requests]
    assert [row["status"] for row in rows] == ["succeeded"] * 3
    admitted = [row["admitted_at"] for row in rows]
    assert admitted == sorted(admitted), "queued runs are admitted in the order requested"
    window = await pool.fetch(
        "SELECT admitted_at FROM executions WHERE workflow_id = $1 AND admitted_at IS NOT NULL",
        workflow_id,
    )
    assert admissions_over_limit([r["admitted_at"] for r in window], 3) == 0
    assert len(receiver.at("queued")) == 3


async def test_admissions_are_exact_when_replicas_race_for_the_same_workflow(
    postgres_settings: PostgresSettings, executor: ExecutorService, tenant_id: str
) -> None:
    """Many runs of one workflow admitted at once through two pools (two replicas): exactly the
    limit gets in, for drop and for queue."""
    pools = [await create_pool(postgres_settings, application_name=f"replica-{n}") for n in (1, 2)]
    try:
        stores = [PostgresExecutionStore(p) for p in pools]
        for action in ("drop", "queue"):
            workflow_id = f"wf-{uuid.uuid4().hex[:8]}"
            settings = {"maxExecutionsPerHour": 10, "throttleAction": action}
            requests = [
                a_request(
                    tenant_id,
                    "https://hooks.example.com/x",
                    workflow_id=workflow_id,
                    settings=settings,
                )
                for _ in range(60)
            ]

            async def admit(n: int, request: ExecutionRequest, token: str) -> str:
                store = stores[n % 2]
                progress = await store.begin(request, token, lease_seconds=30)
                assert progress is not None
                assert progress.claimed
                return (await store.admit(request, token, 10)).verdict

            verdicts = await asyncio.gather(
                *(admit(n, r, f"replica-{n % 2}/{n}") for n, r in enumerate(requests))
            )
            expected = "dropped" if action == "drop" else "queued"
            assert sorted(verdicts) == ["admitted"] * 10 + [expected] * 50
            # An admitted run that comes back (its lease given up) is not counted again.
            again = []
            for n, request in enumerate(requests):
                if verdicts[n] == "admitted":
                    await stores[0].release(tenant_id, request.execution_id, f"replica-{n % 2}/{n}")
                    again.append(await admit(n, request, f"again/{n}"))
            assert again == ["admitted"] * 10
    finally:
        for p in pools:
            await p.close()


def on_the_same_partition_as(workflow_id: str, partitions: int) -> str:
    while True:
        other = f"wf-{uuid.uuid4().hex[:8]}"
        if tenant_partition(other, partitions) == tenant_partition(workflow_id, partitions):
            return other


async def test_a_slow_execution_does_not_hold_up_the_ones_behind_it_on_its_partition(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    released = receiver.hold("slow")
    slow = a_request(tenant_id, receiver.url("slow"))
    behind = a_request(
        tenant_id,
        receiver.url("fast"),
        workflow_id=on_the_same_partition_as(slow.workflow_id, kafka_settings.topic_partitions),
    )
    await produce(kafka_settings, as_record(slow), as_record(behind))

    assert (await finished_execution(pool, behind.execution_id))["status"] == "succeeded"
    await receiver.wait_for("slow", 1)
    group = executor.settings.consumer_group
    assert await committed_offsets(kafka_settings, group) == 0  # not past the unfinished one

    released.set()
    assert (await finished_execution(pool, slow.execution_id))["status"] == "succeeded"
    await committed(kafka_settings, group, 2)


async def test_two_runs_of_one_execution_never_both_perform_a_step(
    executor: ExecutorService,
    timers: TimerRelay,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    """The second copy finds the first run's lease: it waits briefly, then parks a timer to look
    again, which finds the execution finished."""
    released = receiver.hold("leased")
    request = a_request(tenant_id, receiver.url("leased"))
    await produce(kafka_settings, as_record(request), as_record(request))

    [look_again] = await parked_records(timers, request.execution_id, 1)
    assert ":lease:" in look_again.resumption.timer_id
    assert len(receiver.at("leased")) == 1
    released.set()
    assert (await finished_execution(pool, request.execution_id))["status"] == "succeeded"
    await asyncio.wait_for(_fired(timers, look_again.resumption.timer_id), WAIT_SECONDS)
    await committed(kafka_settings, executor.settings.consumer_group, 3)
    assert len(receiver.at("leased")) == 1


async def _fired(relay: TimerRelay, timer_id: str) -> None:
    while timer_id not in relay.fired:
        await asyncio.sleep(0.02)


async def test_a_rate_limit_answer_pauses_the_destination_for_the_tenant_and_no_other(
    start_executor: StartExecutor,
    timers: TimerRelay,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    await start_executor()
    receiver.answer("limited", 429, headers={"Retry-After": "3"})
    budget = {"maxExecutionsPerHour": 1}
    first = a_request(
        tenant_id, receiver.url("limited"), settings=budget, errorHandling={"retryCount": 2}
    )
    same_host = a_request(tenant_id, receiver.url("same-host"), settings=budget)
    elsewhere = a_request(tenant_id, receiver.url("elsewhere", host="localhost"))
    timers.hold()
    await produce(kafka_settings, as_record(first))

    parked = await status_of(pool, first.execution_id, "waiting")
    assert parked["wait_reason"] == "retry"
    [step] = await steps_of(pool, first.execution_id)
    assert (step["status"], step["attempts"], step["response_status"]) == ("waiting", 1, 429)
    pause = await pool.fetchrow(
        "SELECT paused_until FROM destination_pauses WHERE tenant_id = $1 AND destination = $2",
        tenant_id,
        "http:127.0.0.1",
    )
    assert pause is not None

    await produce(kafka_settings, as_record(same_host), as_record(elsewhere))
    assert (await finished_execution(pool, elsewhere.execution_id))["status"] == "succeeded"
    assert (await status_of(pool, same_host.execution_id, "waiting"))["wait_reason"] == "retry"
    [waiting] = await steps_of(pool, same_host.execution_id)
    assert (waiting["status"], waiting["attempts"]) == ("waiting", 0)
    assert waiting["error"]["code"] == "destination_paused"
    assert receiver.at("same-host") == []

    timers.release()
    for request in (first, same_host):
        row = await finished_execution(pool, request.execution_id)
        assert row["status"] == "succeeded", row["error"]
        assert row["admitted_at"] is not None  # the wait spent none of the workflow's budget
    [retried] = await steps_of(pool, first.execution_id)
    assert (retried["status"], retried["attempts"]) == ("succeeded", 2)
    deliveries = receiver.at("limited") + receiver.at("same-host")
    assert len(deliveries) == 3
    assert all(d.at >= pause["paused_until"] for d in deliveries[1:])


async def test_on_error_continue_goes_past_a_failed_step_and_notifies_once(
    start_executor: StartExecutor,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    notifier = RecordingNotifier()
    executor = await start_executor(notifier=notifier)
    receiver.answer("broken", 400)
    request = a_request(
        tenant_id,
        receiver.url("broken"),
        receiver.url("next"),
        errorHandling={"onError": "continue", "notifyOnFailure": ["ops@example.com"]},
    )
    await produce(kafka_settings, as_record(request))

    row = await finished_execution(pool, request.execution_id)
    assert row["status"] == "succeeded_with_errors"
    assert row["error"]["failedSteps"] == [0]
    failed, went_on = await steps_of(pool, request.execution_id)
    assert (failed["status"], failed["error"]["code"]) == ("failed", "webhook_rejected")
    assert went_on["status"] == "succeeded"
    await produce(kafka_settings, as_record(request))
    await committed(kafka_settings, executor.settings.consumer_group, 2)
    assert [execution for execution, _ in notifier.sent] == [request.execution_id]
    assert row["deadlettered_at"] is None


async def test_a_failed_execution_is_dead_lettered_and_notified_once_however_often_it_comes_back(
    start_executor: StartExecutor,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    notifier = RecordingNotifier()
    executor = await start_executor(notifier=notifier)
    receiver.answer("broken", 503, 503)
    request = a_request(
        tenant_id,
        receiver.url("broken"),
        receiver.url("never"),
        errorHandling={"onError": "retry", "retryCount": 1, "notifyOnFailure": ["ops@example.com"]},
    )
    await produce(kafka_settings, as_record(request))

    row = await dead_lettered_execution(pool, request.execution_id)
    assert row["status"] == "failed"
    assert row["error"]["code"] == "retries_exhausted"
    assert row["notified_at"] is not None
    [step] = await steps_of(pool, request.execution_id)
    assert (step["status"], step["attempts"], step["error"]["code"]) == (
        "failed",
        2,
        "retries_exhausted",
    )
    await produce(kafka_settings, as_record(request), as_record(request))
    await committed(kafka_settings, executor.settings.consumer_group, 3)
    assert len(notifier.sent) == 1
    assert notifier.sent[0][1]["code"] == "retries_exhausted"
    assert receiver.at("never") == []


def an_event(tenant_id: str, subject: str, **data: Any) -> CloudEvent:
    return CloudEvent(
        id=f"evt-{uuid.uuid4().hex[:8]}",
        source="native",
        type="customer.updated",
        tenantid=tenant_id,
        subject=subject,
        data=data,
    )


async def test_an_event_meeting_the_exit_conditions_ends_a_waiting_execution(
    executor: ExecutorService,
    timers: TimerRelay,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    timers.hold()
    exits_when_paid = {"rules": [{"field": "status", "operator": "equals", "value": "paid"}]}
    steps = [
        {"type": "delay", "duration": "1 hour"},
        {"type": "webhook", "url": receiver.url("reminder")},
    ]
    waiting = a_request(tenant_id, actions=steps, subject="acct-1", exitConditions=exits_when_paid)
    # Its own trigger event meets the exit conditions: that never ends it.
    started_paid = a_request(
        tenant_id,
        actions=steps,
        subject="acct-2",
        data={"status": "paid"},
        exitConditions=exits_when_paid,
    )
    await produce(kafka_settings, as_record(waiting), as_record(started_paid))
    await status_of(pool, waiting.execution_id, "waiting")
    await status_of(pool, started_paid.execution_id, "waiting")

    await publish_event(kafka_settings, started_paid.event)
    await publish_event(kafka_settings, an_event(tenant_id, "acct-9", status="paid"))
    await publish_event(kafka_settings, an_event(tenant_id, "acct-1", status="trial"))
    paid = an_event(tenant_id, "acct-1", status="paid")
    await publish_event(kafka_settings, paid)

    row = await status_of(pool, waiting.execution_id, "exited")
    assert row["exited_by_event"] == paid.id  # not the trial one, nor another subject's
    assert row["finished_at"] is not None
    assert (await status_of(pool, started_paid.execution_id, "waiting"))["exited_by_event"] is None

    # The timer comes due later: the exited execution does nothing.
    [parked] = await parked_records(timers, waiting.execution_id, 1)
    await produce(kafka_settings, (parked.request.model_dump_json().encode(), None))
    await committed(kafka_settings, executor.settings.consumer_group, 3)
    assert (await finished_execution(pool, waiting.execution_id))["status"] == "exited"
    assert receiver.at("reminder") == []


async def test_a_request_the_database_cannot_store_is_dead_lettered_and_the_next_one_runs(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    """A NUL character in an exit condition (sent around the API, which refuses it): jsonb cannot
    hold it."""
    unstorable = a_request(
        tenant_id,
        receiver.url("never"),
        subject="acct-1",
        exitConditions={"rules": [{"field": "status", "operator": "equals", "value": "a\x00b"}]},
    )
    after = a_request(tenant_id, receiver.url("after"), workflow_id=unstorable.workflow_id)
    await produce(kafka_settings, as_record(unstorable), as_record(after))

    assert (await finished_execution(pool, after.execution_id))["status"] == "succeeded"
    await committed(kafka_settings, executor.settings.consumer_group, 2)
    assert (
        await pool.fetchrow("SELECT 1 FROM executions WHERE id = $1", unstorable.execution_id)
        is None
    )
    assert receiver.at("never") == []
    [(key, value)] = await dead_letters(kafka_settings, 1)
    letter = ExecutionDeadLetter.model_validate_json(value)
    assert key == unstorable.workflow_id.encode()
    assert letter.request == unstorable
    assert letter.error["code"] == "unstorable_request"
