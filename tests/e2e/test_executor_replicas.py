"""Three executor processes in one consumer group, under load with rate-limited workflows; one is
killed with SIGKILL while it is in the middle of actions. No execution is lost, none is
performed twice beyond what the idempotency key (``webhook-id``) absorbs, no limit is exceeded.

The scheduler's timers (for lease rechecks and queued runs) are stood in for by ``TimerRelay``
in this process; requests are produced straight to ``executions.requested``.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest
from aiohttp import web

from services.executor.domain import admissions_over_limit
from shared.kafka import tenant_partition
from shared.postgres import Pool
from shared.settings import KafkaSettings
from shared.testing import TimerRelay, free_port, produce_requests, webhook_requests
from tests.conftest import FAST_KAFKA
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e

REPLICAS = ("executor-1", "executor-2", "executor-3")
IN_FLIGHT = 8  # per replica: the hold below waits for more than two replicas can have


@dataclass
class Receiver:
    """Counts deliveries by ``webhook-id``; while ``holding``, answers nothing (actions stay in
    flight)."""

    url: str = ""
    arrivals: list[tuple[str, datetime]] = field(default_factory=list)
    held: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrivals.append((request.headers["webhook-id"], datetime.now(UTC)))
        if not self.released.is_set():
            self.held += 1
            await self.released.wait()
        return web.json_response({"ok": True})


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook")
    app = web.Application()
    app.router.add_post("/hook", receiver.receive)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield receiver
    finally:
        receiver.released.set()
        await runner.cleanup()


def spread_over_partitions(prefix: str, per_partition: int, partitions: int) -> list[str]:
    """Workflow ids, ``per_partition`` on each partition of ``executions.requested``: every
    replica gets work."""
    found: defaultdict[int, list[str]] = defaultdict(list)
    while any(len(found[p]) < per_partition for p in range(partitions)):
        workflow_id = f"{prefix}-{uuid.uuid4().hex[:8]}"
        partition = tenant_partition(workflow_id, partitions)
        if len(found[partition]) < per_partition:
            found[partition].append(workflow_id)
    return [w for ids in found.values() for w in ids]


async def test_killing_one_of_three_executors_mid_action_loses_nothing_and_exceeds_no_limit(
    stack: Stack, pool: Pool, tenant_id: str, receiver: Receiver
) -> None:
    prefix = stack.env["TOPIC_PREFIX"]
    kafka_partitions = int(FAST_KAFKA["topic_partitions"])
    bootstrap = stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    env = {
        "EXECUTOR_CONSUMER_GROUP": f"executor-{prefix}",
        "EXECUTOR_EXIT_CONSUMER_GROUP": f"executor-exits-{prefix}",
        "EXECUTOR_LEASE_SECONDS": "8",
        "EXECUTOR_INLINE_WAIT_MAX_SECONDS": "0.5",
        "EXECUTOR_MAX_IN_FLIGHT": str(IN_FLIGHT),
        "EXECUTOR_SHUTDOWN_GRACE_SECONDS": "5",
    }
    for replica in REPLICAS:
        stack.start("executor", replica=replica, **env, EXECUTOR_REPLICA_ID=replica)
    await stack.wait_ready(*REPLICAS, within=90)

    unlimited = [
        r
        for workflow_id in spread_over_partitions("wf-free", 3, kafka_partitions)
        for r in webhook_requests(tenant_id, receiver.url, workflow_id, 15)
    ]
    dropped = [
        r
        for w in range(4)
        for r in webhook_requests(
            tenant_id,
            receiver.url,
            f"wf-drop-{w}-{uuid.uuid4().hex[:6]}",
            25,
            settings={"maxExecutionsPerHour": 8, "throttleAction": "drop"},
        )
    ]
    queue_id = f"wf-queue-{uuid.uuid4().hex[:6]}"
    queued = webhook_requests(
        tenant_id,
        receiver.url,
        queue_id,
        12,
        settings={"maxExecutionsPerHour": 10, "throttleAction": "queue"},
    )
    everything = unlimited + dropped + queued

    kafka = KafkaSettings(bootstrap_servers=bootstrap, TOPIC_PREFIX=prefix, **FAST_KAFKA)
    async with TimerRelay(kafka) as timers:
        await produce_requests(bootstrap, prefix, everything)
        # Hold every action until more are in flight than two replicas can have at once: the
        # one killed is in the middle of some.
        async with asyncio.timeout(60):
            while receiver.held < 2 * IN_FLIGHT + 2:
                await asyncio.sleep(0.05)
        assert stack.stop("executor-1", signal.SIGKILL) == -signal.SIGKILL
        killed_at = datetime.now(UTC)
        receiver.released.set()

        ids = [r.execution_id for r in everything]
        async with asyncio.timeout(120):
            while True:
                rows = await pool.fetch(
                    "SELECT id, workflow_id, status, admitted_at FROM executions WHERE id = ANY($1)",
                    ids,
                )
                statuses = Counter(row["status"] for row in rows)
                if len(rows) == len(ids) and set(statuses) <= {"succeeded", "throttled", "waiting"}:
                    queue_rows = [row for row in rows if row["workflow_id"] == queue_id]
                    if all(row["status"] != "running" for row in rows) and (
                        sum(row["status"] == "waiting" for row in queue_rows) == 2
                    ):
                        break
                await asyncio.sleep(0.2)
        parked_queue = {
            p.request.execution_id for p in timers.parked if p.resumption.reason == "queue"
        }

    # Nothing lost: every request ended, or waits for room with its timer handed over.
    by_id = {row["id"]: row for row in rows}
    succeeded = {i for i, row in by_id.items() if row["status"] == "succeeded"}
    waiting = {i for i, row in by_id.items() if row["status"] == "waiting"}
    assert waiting <= parked_queue
    delivered = Counter(webhook_id.split(":")[0] for webhook_id, _ in receiver.arrivals)
    assert set(delivered) == succeeded

    # Performed twice only where the killed replica was mid-action, and then only once more.
    first_seen: dict[str, datetime] = {}
    repeated: defaultdict[str, list[datetime]] = defaultdict(list)
    for webhook_id, at in receiver.arrivals:
        if webhook_id in first_seen:
            repeated[webhook_id].append(at)
        else:
            first_seen[webhook_id] = at
    # Only the repeat is timed against the kill: a call the killed replica had written before
    # it died can be read here after ``killed_at`` (the loop was blocked in ``stop``).
    for webhook_id, again in repeated.items():
        assert len(again) == 1, webhook_id
        assert first_seen[webhook_id] < again[0], webhook_id
        assert killed_at <= again[0], webhook_id
    assert len(repeated) <= IN_FLIGHT

    # No limit exceeded; drop admitted exactly the limit.
    for workflow in {r.workflow_id for r in dropped}:
        admitted = [
            row["admitted_at"]
            for row in rows
            if row["workflow_id"] == workflow and row["admitted_at"]
        ]
        assert len(admitted) == 8
        assert sum(1 for i in delivered if by_id[i]["workflow_id"] == workflow) == 8
    queue_admitted = [
        row["admitted_at"] for row in rows if row["workflow_id"] == queue_id and row["admitted_at"]
    ]
    assert len(queue_admitted) == 10
    assert admissions_over_limit(queue_admitted, 10) == 0
    assert all(by_id[r.execution_id]["status"] == "succeeded" for r in unlimited)
