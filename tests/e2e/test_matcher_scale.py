"""The matcher as real processes: read your writes through the API and ingest, and two matchers
sharing the partitions that lose one to SIGTERM, then one to kill -9, mid-stream.

Every event is counted on ``executions.requested``: each must yield exactly the execution ids
it should (one per matching workflow version, whatever the redeliveries), none missing.
"""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from ops.cli.kafka import consumer_lag
from services.matcher.settings import MatcherSettings
from shared.contracts import (
    CloudEvent,
    ExecutionRequest,
    Topics,
    WorkflowChange,
    WorkflowDefinition,
    execution_id_for,
)
from shared.kafka import encode, tenant_partition, tenant_partitioner
from shared.postgres import Pool
from shared.settings import KafkaSettings
from tests.e2e.conftest import Stack, call, metric

pytestmark = pytest.mark.e2e

MATCHERS = ("matcher-a", "matcher-b")


@pytest.fixture(scope="module")
async def running(stack: Stack) -> Stack:
    stack.start("config_api")
    stack.start("ingest")
    for name in MATCHERS:
        stack.start("matcher", replica=name)
    await stack.wait_ready(within=90)
    return stack


class RequestLog:
    """Every record of ``executions.requested`` from the beginning, read as it arrives."""

    def __init__(self, stack: Stack) -> None:
        self._topic = Topics(stack.env["TOPIC_PREFIX"]).executions_requested
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"],
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
        )
        self.requests: list[ExecutionRequest] = []

    async def start(self) -> None:
        await self._consumer.start()
        await self._consumer._client.force_metadata_update()
        partitions = self._consumer.partitions_for_topic(self._topic) or set()
        tps = [TopicPartition(self._topic, p) for p in partitions]
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)

    async def stop(self) -> None:
        await self._consumer.stop()

    async def until(self, done: Callable[[list[ExecutionRequest]], bool], within: float) -> None:
        async with asyncio.timeout(within):
            while not done(self.requests):
                for records in (await self._consumer.getmany(timeout_ms=200)).values():
                    self.requests.extend(
                        ExecutionRequest.model_validate_json(record.value or b"")
                        for record in records
                    )

    def ids_by_event(self, prefix: str) -> dict[str, set[str]]:
        found: dict[str, set[str]] = {}
        for request in self.requests:
            if request.event.id.startswith(prefix):
                found.setdefault(request.event.id, set()).add(request.execution_id)
        return found


@pytest.fixture
async def requested(running: Stack) -> AsyncIterator[RequestLog]:
    log = RequestLog(running)
    await log.start()
    try:
        yield log
    finally:
        await log.stop()


@pytest.fixture
async def producer(running: Stack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=running.env["KAFKA_BOOTSTRAP_SERVERS"],
        partitioner=tenant_partitioner,
        acks="all",
        linger_ms=2,
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def test_an_event_sent_the_moment_a_save_is_answered_gets_its_execution_every_time(
    running: Stack, pool: Pool, api_key: str, requested: RequestLog
) -> None:
    expected: dict[str, set[str]] = {}
    for attempt in range(20):
        status, workflow = await call(
            "POST",
            running.url("config_api", "/api/workflows"),
            api_key,
            {
                "name": f"attempt {attempt}",
                "trigger": "customer.created",
                "conditions": {
                    "rules": [{"field": "attempt", "operator": "equals", "value": attempt}]
                },
                "actions": [{"type": "webhook", "url": "https://hooks.example.com/attempt"}],
                "active": True,
            },
        )
        assert status == 201, workflow
        event = {"type": "customer.created", "id": f"rw-{attempt}", "data": {"attempt": attempt}}
        status, accepted = await call("POST", running.url("ingest", "/v1/events"), api_key, event)
        assert status == 202, accepted
        expected[f"rw-{attempt}"] = {workflow["id"]}

    def all_requested(requests: list[ExecutionRequest]) -> bool:
        return {r.event.id for r in requests if r.event.id.startswith("rw-")} >= set(expected)

    await requested.until(all_requested, within=60)
    found: dict[str, set[str]] = {}
    for request in requested.requests:
        if request.event.id.startswith("rw-"):
            found.setdefault(request.event.id, set()).add(request.workflow_id)
    assert found == expected


def tenants_on_every_partition(partitions: int, per_partition: int = 2) -> list[str]:
    tenants: dict[int, list[str]] = {}
    while any(len(tenants.get(p, [])) < per_partition for p in range(partitions)):
        tenant = f"scale-{uuid.uuid4().hex[:8]}"
        placed = tenants.setdefault(tenant_partition(tenant, partitions), [])
        if len(placed) < per_partition:
            placed.append(tenant)
    return [tenant for placed in tenants.values() for tenant in placed]


async def publish_workflows(producer: AIOKafkaProducer, topics: Topics, tenants: list[str]) -> None:
    """Two workflows per tenant: every event yields two executions."""
    for tenant in tenants:
        for workflow_id in ("wf-all", "wf-high"):
            conditions = (
                {"rules": [{"field": "n", "operator": "greater_than", "value": -1}]}
                if workflow_id == "wf-high"
                else None
            )
            definition = WorkflowDefinition.model_validate(
                {
                    "name": workflow_id,
                    "trigger": "private_offer.accepted",
                    **({"conditions": conditions} if conditions else {}),
                    "actions": [{"type": "webhook", "url": "https://hooks.example.com/scale"}],
                    "active": True,
                }
            )
            change = WorkflowChange(
                tenant_id=tenant,
                workflow_id=workflow_id,
                version=1,
                workflow=definition,
                changed_at=datetime.now(UTC),
            )
            await producer.send_and_wait(
                topics.workflows_changelog, encode(change), key=change.key.encode()
            )


async def stream_with_a_loss(
    running: Stack,
    producer: AIOKafkaProducer,
    requested: RequestLog,
    tenants: list[str],
    *,
    label: str,
    victim: str,
    sig: signal.Signals,
) -> None:
    """Stream events; once both matchers are matching, stop ``victim`` with ``sig``; then
    check that every event yielded exactly its two execution ids."""
    topic = Topics(running.env["TOPIC_PREFIX"]).events_normalized
    events = [
        CloudEvent(
            id=f"{label}-{n}",
            source="native",
            type="private_offer.accepted",
            tenantid=tenants[n % len(tenants)],
            data={"n": n},
        )
        for n in range(1500)
    ]
    survivor = next(name for name in MATCHERS if name != victim)
    baseline = {
        name: await metric(running, name, "matcher_events_matched_total") for name in MATCHERS
    }

    async def produce() -> None:
        for start in range(0, len(events), 25):
            for event in events[start : start + 25]:
                await producer.send(topic, encode(event), key=event.tenantid.encode())
            await asyncio.sleep(0.05)
        await producer.flush()

    async def both_matching() -> bool:
        for name in MATCHERS:
            if await metric(running, name, "matcher_events_matched_total") <= baseline[name]:
                return False
        return True

    producing = asyncio.create_task(produce())
    try:
        async with asyncio.timeout(60):  # both share the partitions: each is matching events
            while not await both_matching():
                await asyncio.sleep(0.05)
    except BaseException:
        producing.cancel()
        raise
    assert not producing.done(), "the loss must come mid-stream"
    code = running.stop(victim, sig)
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    await producing

    def complete(requests: list[ExecutionRequest]) -> bool:
        found = requested.ids_by_event(f"{label}-")
        return len(found) == len(events) and all(len(ids) >= 2 for ids in found.values())

    try:
        await requested.until(complete, within=90)
    except TimeoutError:
        found = requested.ids_by_event(f"{label}-")
        missing = Counter(
            tenant_partition(event.tenantid, int(running.env["KAFKA_TOPIC_PARTITIONS"]))
            for event in events
            if len(found.get(event.id, ())) < 2
        )
        tails = "\n".join(
            f"--- {name}\n{running.tail(name, 60)}"
            for name in sorted({*running.processes, *MATCHERS})
        )
        raise AssertionError(
            f"events short of requests, by partition: {missing}\n{tails}"
        ) from None
    found = requested.ids_by_event(f"{label}-")
    expected = {
        event.id: {execution_id_for(event, workflow_id, 1) for workflow_id in ("wf-all", "wf-high")}
        for event in events
    }
    assert found == expected, "every event, each execution id exactly as derived, no other"
    records = sum(1 for r in requested.requests if r.event.id.startswith(f"{label}-"))
    print(f"{label}: {len(events)} events, {records} request records for {2 * len(events)} ids")
    assert await metric(running, survivor, "matcher_events_matched_total") > baseline[survivor]
    # And every event is acked in the end: the group's commits reach the end of the topic (an
    # event left unacked at the rebalance was read again and acked).
    kafka = KafkaSettings(
        bootstrap_servers=running.env["KAFKA_BOOTSTRAP_SERVERS"],
        TOPIC_PREFIX=running.env["TOPIC_PREFIX"],
    )
    groups = {MatcherSettings(kafka=kafka).consumer_group: [topic]}
    async with asyncio.timeout(60):  # raises if commits stall short of the end
        while any(lag.lag for lag in await consumer_lag(kafka, groups)):
            await asyncio.sleep(0.5)

    running.start("matcher", replica=victim)
    await running.wait_ready(victim, within=90)


async def test_two_matchers_lose_one_to_sigterm_then_one_to_kill_9_and_no_event_is_lost(
    running: Stack, producer: AIOKafkaProducer, requested: RequestLog
) -> None:
    topics = Topics(running.env["TOPIC_PREFIX"])
    tenants = tenants_on_every_partition(int(running.env["KAFKA_TOPIC_PARTITIONS"]))
    await publish_workflows(producer, topics, tenants)

    await stream_with_a_loss(
        running, producer, requested, tenants, label="term", victim="matcher-a", sig=signal.SIGTERM
    )
    await stream_with_a_loss(
        running, producer, requested, tenants, label="kill", victim="matcher-b", sig=signal.SIGKILL
    )
