"""Processes killed with ``kill -9`` where it hurts, and executors scaled under load, through the
five services as real processes: events go in at ingest, every event is accounted for.

Each test has a tenant of its own and sends its events through ``POST /v1/events``; the
executions are read from the executor's table (one row per workflow and event is what "exactly
one execution" means), the effects at ``Peer``, a webhook receiver that counts deliveries by
``webhook-id`` (``{execution}:{step}``, the same on every attempt: a second delivery of one id is
a duplicate the receiver absorbs, not a second effect).

Where a test kills a process it does so at a point it waits for — the peer holding the call,
the step recorded, timers delivered — never after a sleep, so its figures are the same on every
run. The one point no outside observer can catch, between an execution's last record and the
offset commit that follows within milliseconds, is made exactly: the executor is killed once the
executions are recorded, and the group's committed offsets are put back to before their
requests, which is the state a kill inside that window leaves.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from services.executor.domain import admissions_over_limit
from shared.contracts import Topics
from shared.postgres import Pool
from shared.testing import free_port
from tests.conftest import FAST_KAFKA
from tests.e2e.conftest import Stack
from tests.faults.ledger import Ledger
from tests.faults.support import create_workflow, send_events

pytestmark = pytest.mark.e2e

LEASE_SECONDS = 3
REPLICAS = ("executor-2", "executor-3")
FIVE = ("config_api", "ingest", "matcher", "executor", "scheduler")


@dataclass
class Peer:
    """A webhook receiver: every delivery by ``webhook-id``; while ``holding``, it answers
    nothing (the calls stay in flight in the executor)."""

    port: int = field(default_factory=free_port)
    deliveries: list[str] = field(default_factory=list)
    holding: bool = False
    held: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def reset(self) -> None:
        self.deliveries.clear()
        self.holding = False
        self.held = 0
        self.released = asyncio.Event()

    def effects(self) -> int:
        return len(set(self.deliveries))

    def duplicates(self) -> int:
        return len(self.deliveries) - self.effects()

    async def receive(self, request: web.Request) -> web.Response:
        await request.read()
        self.deliveries.append(request.headers["webhook-id"])
        if self.holding:
            self.held += 1
            await self.released.wait()
        return web.json_response({"ok": True})


@pytest.fixture(scope="module")
async def peer() -> AsyncIterator[Peer]:
    peer = Peer()
    app = web.Application()
    app.router.add_post("/hook", peer.receive)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", peer.port).start()
    try:
        yield peer
    finally:
        peer.released.set()
        await runner.cleanup()


@pytest.fixture(scope="module")
async def running(stack: Stack) -> Stack:
    prefix = stack.env["TOPIC_PREFIX"]
    stack.env.update(
        {
            "EXECUTOR_CONSUMER_GROUP": f"executor-{prefix}",
            "EXECUTOR_EXIT_CONSUMER_GROUP": f"executor-exits-{prefix}",
            # A killed executor's leases run out soon: its executions resume within seconds.
            "EXECUTOR_LEASE_SECONDS": str(LEASE_SECONDS),
            "EXECUTOR_INLINE_WAIT_MAX_SECONDS": "0.5",
            "EXECUTOR_SHUTDOWN_GRACE_SECONDS": "5",
            "WEBHOOK_TIMEOUT_SECONDS": "30",
        }
    )
    for service in FIVE:
        stack.start(service)
    await stack.wait_ready(within=120)
    return stack


@pytest.fixture
async def fresh(running: Stack, peer: Peer) -> Peer:
    """The peer, emptied; and the five services up (a test that failed may have left one
    killed, and the next one should not fail for it)."""
    for service in FIVE:
        if service not in running.processes or running.processes[service].poll() is not None:
            running.processes.pop(service, None)
            running.start(service)
    await running.wait_ready(*FIVE, within=120)
    peer.reset()
    return peer


async def webhook_workflow(
    stack: Stack, key: str, url: str, *, before: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    return await create_workflow(
        stack,
        key,
        {
            "name": f"fault {uuid.uuid4().hex[:6]}",
            "trigger": "private_offer.accepted",
            "actions": [*(before or []), {"type": "webhook", "url": url}],
            **extra,
        },
    )


def events(label: str, count: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "private_offer.accepted",
            "id": f"{label}-{n}",
            "data": {"customerName": "Globex", "value": n},
        }
        for n in range(count)
    ]


async def rows(pool: Pool, workflow: dict[str, Any]) -> list[asyncpg.Record]:
    return list(
        await pool.fetch(
            "SELECT id, event->>'id' AS event_id, status, admitted_at FROM executions"
            " WHERE workflow_id = $1",
            workflow["id"],
        )
    )


async def settled(
    pool: Pool,
    workflow: dict[str, Any],
    count: int,
    *,
    finished: frozenset[str] = frozenset({"succeeded"}),
    within: float = 120,
) -> list[asyncpg.Record]:
    """The workflow's executions once there are ``count`` and all have a status in ``finished``;
    one per event."""
    async with asyncio.timeout(within):
        while True:
            found = await rows(pool, workflow)
            if len(found) >= count and all(row["status"] in finished for row in found):
                break
            await asyncio.sleep(0.1)
    assert len(found) == count, Counter(row["status"] for row in found)
    assert len({row["event_id"] for row in found}) == count, "two executions for one event"
    return found


async def until(condition: Callable[[], bool | Awaitable[bool]], within: float = 60) -> None:
    """Until ``condition()`` holds (bounded)."""
    async with asyncio.timeout(within):
        while True:
            holds = condition()
            if await holds if inspect.isawaitable(holds) else holds:
                return
            await asyncio.sleep(0.05)


async def test_kill_9_of_the_executor_after_the_call_before_its_step_is_recorded(
    running: Stack, pool: Pool, api_key: str, fresh: Peer, ledger: Ledger
) -> None:
    sent = 5
    workflow = await webhook_workflow(running, api_key, fresh.url)
    fresh.holding = True
    await send_events(running, api_key, events("held", sent))
    await until(lambda: fresh.held == sent)
    # Every call reached the receiver, none has its answer: kill the executor now.
    assert running.stop("executor", signal.SIGKILL) == -signal.SIGKILL
    fresh.holding = False
    fresh.released.set()
    before = await rows(pool, workflow)
    assert [row["status"] for row in before] == ["running"] * sent, "a step was recorded"

    running.start("executor")
    await running.wait_ready("executor")
    found = await settled(pool, workflow, sent)
    # Each call made again, once, with its webhook-id, once the dead run's lease ran out.
    assert Counter(Counter(fresh.deliveries).values()) == {2: sent}
    assert fresh.effects() == sent
    ledger.record(
        "kill -9 of the executor after the external call, before its step is recorded",
        held="each call made again once, with the same webhook-id, after the lease ran out",
        sent=sent,
        executions=len(found),
        effects=fresh.effects(),
        duplicates_absorbed=fresh.duplicates(),
    )


async def test_kill_9_of_the_executor_after_recording_before_the_offset_commit(
    running: Stack, pool: Pool, api_key: str, fresh: Peer, ledger: Ledger
) -> None:
    sent = 5
    topic = Topics(running.env["TOPIC_PREFIX"]).executions_requested
    group = running.env["EXECUTOR_CONSUMER_GROUP"]
    workflow = await webhook_workflow(running, api_key, fresh.url)
    start = await end_offsets(running, topic)
    await send_events(running, api_key, events("recorded", sent))
    await settled(pool, workflow, sent)
    ends = await requests_of(running, workflow, start, sent)
    assert running.stop("executor", signal.SIGKILL) == -signal.SIGKILL
    # What a kill between the last record and the commit leaves: the requests uncommitted.
    await rewind(running, group, topic, start)

    running.start("executor")
    await running.wait_ready("executor")
    await until(lambda: _committed_to(running, group, topic, ends))
    found = await settled(pool, workflow, sent)
    assert len(fresh.deliveries) == sent, "an effect performed again"
    assert fresh.effects() == sent
    ledger.record(
        "kill -9 of the executor after recording, before the offset commit",
        held="the requests read again; each finds its execution finished and performs nothing",
        sent=sent,
        executions=len(found),
        effects=fresh.effects(),
        duplicates_absorbed=fresh.duplicates(),
    )


async def test_kill_9_of_the_matcher_mid_stream(
    running: Stack, pool: Pool, api_key: str, fresh: Peer, ledger: Ledger
) -> None:
    workflow = await webhook_workflow(running, api_key, fresh.url)
    first, second = events("matcher-a", 30), events("matcher-b", 20)
    await send_events(running, api_key, first)
    await until(lambda: _some_executed(pool, workflow))
    assert running.stop("matcher", signal.SIGKILL) == -signal.SIGKILL
    await send_events(running, api_key, second)  # behind on the topic while it is down
    running.start("matcher")
    await running.wait_ready("matcher")

    sent = len(first) + len(second)
    found = await settled(pool, workflow, sent)
    assert {row["event_id"] for row in found} == {e["id"] for e in first + second}
    assert fresh.effects() == sent
    ledger.record(
        "kill -9 of the matcher mid-stream",
        held="no event lost across the kill; one execution each (an event matched again keeps its id)",
        sent=sent,
        executions=len(found),
        effects=fresh.effects(),
        duplicates_absorbed=fresh.duplicates(),
    )


async def _some_executed(pool: Pool, workflow: dict[str, Any]) -> bool:
    return bool(await rows(pool, workflow))


async def test_kill_9_of_the_scheduler_during_a_timer_drain(
    running: Stack, pool: Pool, api_key: str, fresh: Peer, ledger: Ledger
) -> None:
    sent = 20
    workflow = await webhook_workflow(
        running, api_key, fresh.url, before=[{"type": "delay", "duration": "3 seconds"}]
    )
    # One event every 0.2 s: their timers come due one after another over four seconds.
    for event in events("timer", sent):
        await send_events(running, api_key, [event])
        await asyncio.sleep(0.2)
    await until(lambda: fresh.effects() >= 3)
    assert running.stop("scheduler", signal.SIGKILL) == -signal.SIGKILL
    assert fresh.effects() < sent, "every timer had fired before the kill"
    running.start("scheduler")
    await running.wait_ready("scheduler")

    found = await settled(pool, workflow, sent)
    assert fresh.effects() == sent
    ledger.record(
        "kill -9 of the scheduler during a timer drain",
        held="timers due while it was down fired at its restart; each execution resumed once",
        sent=sent,
        executions=len(found),
        effects=fresh.effects(),
        duplicates_absorbed=fresh.duplicates(),
    )


async def test_executors_scaled_1_to_3_to_1_under_load_with_rate_limits(
    running: Stack, pool: Pool, api_key: str, fresh: Peer, ledger: Ledger
) -> None:
    limit = 10
    free = await webhook_workflow(running, api_key, fresh.url)
    limited = await webhook_workflow(
        running,
        api_key,
        fresh.url,
        settings={"maxExecutionsPerHour": limit, "throttleAction": "drop"},
    )
    stages = [events(f"scale-{stage}", 20) for stage in ("one", "three", "back-to-one")]

    async def load(batch: list[dict[str, Any]]) -> None:
        for n in range(0, len(batch), 2):
            await send_events(running, api_key, batch[n : n + 2])
            await asyncio.sleep(0.05)

    await load(stages[0])
    for replica in REPLICAS:  # scaled up while events arrive
        running.start("executor", replica=replica, EXECUTOR_REPLICA_ID=replica)
    await asyncio.gather(load(stages[1]), running.wait_ready(*REPLICAS, within=90))
    scaling_down = asyncio.gather(
        *(asyncio.to_thread(running.stop, replica) for replica in REPLICAS)
    )
    await load(stages[2])
    assert await scaling_down == [0, 0]

    sent = sum(len(stage) for stage in stages)
    runs_free = await settled(pool, free, sent)
    runs_limited = await settled(
        pool, limited, sent, finished=frozenset({"succeeded", "throttled"})
    )
    admitted = [row["admitted_at"] for row in runs_limited if row["admitted_at"] is not None]
    violations = admissions_over_limit(admitted, limit)
    assert len(admitted) == limit
    assert violations == 0
    assert fresh.effects() == sent + limit
    ledger.record(
        "executors scaled 1 → 3 → 1 under load, one workflow limited to 10 an hour (drop)",
        held="every event one execution per workflow; exactly 10 admitted, the rest throttled",
        sent=sent,
        executions=len(runs_free) + len(runs_limited),
        effects=fresh.effects(),
        duplicates_absorbed=fresh.duplicates(),
        limit_violations=violations,
        varies=("duplicates_absorbed",),
    )


async def end_offsets(stack: Stack, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def requests_of(
    stack: Stack, workflow: dict[str, Any], start: dict[TopicPartition, int], count: int
) -> dict[TopicPartition, int]:
    """Read from ``start`` until the workflow's ``count`` requests are found (there are no more
    than that); the offsets just past them."""
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    await consumer.start()
    ends = dict(start)
    found = 0
    try:
        consumer.assign(list(start))
        for tp, offset in start.items():
            consumer.seek(tp, offset)
        async with asyncio.timeout(30):
            while found < count:
                for tp, batch in (await consumer.getmany(timeout_ms=200)).items():
                    for record in batch:
                        if json.loads(record.value or b"null")["workflow_id"] == workflow["id"]:
                            found += 1
                            ends[tp] = record.offset + 1
    finally:
        await consumer.stop()
    assert found == count
    return ends


async def _group(stack: Stack, group: str, **options: Any) -> AIOKafkaConsumer:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        group_id=group,
        enable_auto_commit=False,
        **options,
    )
    await consumer.start()
    return consumer


async def rewind(stack: Stack, group: str, topic: str, to: dict[TopicPartition, int]) -> None:
    """Commit ``group``'s offsets on ``topic`` back to ``to`` as a member of the group (the
    broker takes commits from members only), once the killed member's session has ended and
    every partition is this one's."""
    fast = {key: FAST_KAFKA[key] for key in ("session_timeout_ms", "heartbeat_interval_ms")}
    consumer = await _group(stack, group, **fast, request_timeout_ms=10000)
    try:
        consumer.subscribe([topic])
        async with asyncio.timeout(60):
            while consumer.assignment() != set(to):
                await consumer.getmany(timeout_ms=200)
        await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in to.items()})
        assert {tp: await consumer.committed(tp) for tp in to} == to
    finally:
        await consumer.stop()


async def _committed_to(
    stack: Stack, group: str, topic: str, ends: dict[TopicPartition, int]
) -> bool:
    consumer = await _group(stack, group)
    try:
        consumer.assign(list(ends))
        committed = {tp: await consumer.committed(tp) or 0 for tp in ends}
        return all(committed[tp] >= end for tp, end in ends.items())
    finally:
        await consumer.stop()
