"""Poison records on every topic the services consume, through the real processes.

Each test puts four bad records on one topic, on the partition a good record then follows them
to: undecodable bytes, valid JSON of the wrong shape, the right shape carrying strings
PostgreSQL cannot store (NUL, a lone surrogate), and the right shape with a value far over its
limit. Each bad record ends as one dead letter with its reason (or, on the changelog, as a
counted and logged skip: see docs/decisions.md), the good record behind them is processed, and
every service stays ready.

| topic | consumers | a bad record |
|---|---|---|
| events.inbound | ingest | events.deadletter (ingest) |
| events.normalized | matcher, scheduler, executor (exits) | events.deadletter (the matcher); the others skip it |
| workflows.changelog | matcher, scheduler | skipped, counted and logged by each |
| executions.requested | executor | executions.deadletter (executor) |
| executions.deferred | scheduler | executions.deadletter (scheduler) |
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer

from shared.contracts import CloudEvent, Topics
from shared.kafka import tenant_partitioner
from shared.testing import webhook_requests
from tests.e2e.conftest import Stack, WebhookSink, call, metric
from tests.faults.ledger import Ledger
from tests.faults.support import (
    FINISHED,
    create_workflow,
    executions,
    finished_execution,
    ready,
    send_events,
    topic_records,
)

pytestmark = pytest.mark.e2e

SERVICES = ("config_api", "ingest", "matcher", "executor", "scheduler")
KINDS = ("undecodable", "wrong_shape", "nul", "lone_surrogate", "oversized")
UNSTORABLE = {"nul": "a NUL \u0000 here", "lone_surrogate": "a lone surrogate \ud800 here"}


@pytest.fixture(scope="module")
async def running(stack: Stack) -> Stack:
    stack.env["SCHEDULER_TIMER_MAX_SLEEP_SECONDS"] = "0.5"
    for service in SERVICES:
        stack.start(service)
    await stack.wait_ready(within=120)
    return stack


@pytest.fixture
async def producer(running: Stack) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(
        bootstrap_servers=running.env["KAFKA_BOOTSTRAP_SERVERS"],
        acks="all",
        partitioner=tenant_partitioner,
        max_request_size=4 * 1024 * 1024,
    )
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


def _topics(stack: Stack) -> Topics:
    return Topics(stack.env["TOPIC_PREFIX"])


Spoil = Callable[[str], dict[str, Any]]


def poisons(marker: str, text: Spoil, size: Spoil) -> list[bytes]:
    """The five bad records, each carrying ``marker-<kind>`` so its dead letter can be found:
    ``text(s)`` is a good record with ``s`` in a string field, ``size(s)`` one with ``s`` in a
    field of bounded length; ``s`` holds a NUL, a lone surrogate, or 2,000 characters."""
    return [
        b"\xff\xfe\x00" + f"{marker}-undecodable".encode() + b"\xc3\x28",
        json.dumps({"hello": f"{marker}-wrong_shape", "items": [1, 2, 3]}).encode(),
        *(
            json.dumps(text(f"{marker}-{kind} {UNSTORABLE[kind]}")).encode()
            for kind in ("nul", "lone_surrogate")
        ),
        json.dumps(size(f"{marker}-oversized " + "x" * 2_000)).encode(),
    ]


async def produce(
    producer: AIOKafkaProducer, topic: str, key: str, values: list[bytes], **headers: str
) -> None:
    for value in values:
        await producer.send_and_wait(
            topic,
            value,
            key=key.encode(),
            headers=[(name, header.encode()) for name, header in headers.items()] or None,
        )


async def dead_letters(stack: Stack, topic: str, marker: str) -> dict[str, list[dict[str, Any]]]:
    """The dead letters on ``topic`` of each bad record carrying ``marker``, by kind."""

    def text(letter: dict[str, Any]) -> str:
        raw = letter.get("received_base64")
        decoded = base64.b64decode(raw).decode("utf-8", "replace") if raw else ""
        return f"{letter.get('received') or ''} {decoded}"

    def by_kind(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
        return {kind: [r for r in records if f"{marker}-{kind}" in text(r)] for kind in KINDS}

    records = await topic_records(stack, topic, lambda found: all(by_kind(found).values()))
    return by_kind(records)


async def all_ready(stack: Stack) -> None:
    for service in SERVICES:
        assert stack.processes[service].poll() is None, f"{service} exited:\n{stack.tail(service)}"
        assert await ready(stack, service) == 200, service


def envelope(tenant_id: str, event_id: str, **data: Any) -> dict[str, Any]:
    event = CloudEvent(
        id=event_id,
        source="native",
        type="private_offer.accepted",
        tenantid=tenant_id,
        time=datetime.now(UTC),
        data={"customerName": "Globex", **data},
    )
    return event.model_dump(mode="json", by_alias=True, exclude_none=True)


def _with(record: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    copy: dict[str, Any] = json.loads(json.dumps(record))
    target = copy
    for name in path[:-1]:
        target = target[name]
    target[path[-1]] = value
    return copy


def _unique() -> str:
    return f"poison-{uuid.uuid4().hex}"


def codes(letters: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    assert all(len(found) == 1 for found in letters.values()), letters
    return {kind: found[0]["error"]["code"] for kind, found in letters.items()}


async def test_poison_on_events_inbound_is_dead_lettered_by_ingest(
    running: Stack,
    producer: AIOKafkaProducer,
    api_key: str,
    tenant_id: str,
    webhook_sink: WebhookSink,
    ledger: Ledger,
) -> None:
    workflow = await create_workflow(
        running,
        api_key,
        {
            "name": "inbound",
            "trigger": "private_offer.accepted",
            "actions": [{"type": "webhook", "url": webhook_sink.url}],
        },
    )
    marker = f"poison-{uuid.uuid4().hex[:8]}"
    native = {"type": "private_offer.accepted", "id": "x", "data": {"customerName": "Globex"}}
    bad = poisons(
        marker,
        lambda s: _with(_with(native, ("id",), _unique()), ("data", "customerName"), s),
        lambda s: _with(native, ("id",), s),
    )
    good = json.dumps({**native, "id": f"{marker}-good"}).encode()
    topic = _topics(running).events_inbound
    await produce(producer, topic, tenant_id, [*bad, good], source="native", tenant=tenant_id)

    run = await finished_execution(running, api_key, workflow)
    assert (run["status"], run["event"]["id"]) == ("succeeded", f"{marker}-good")
    letters = await dead_letters(running, _topics(running).events_deadletter, marker)
    assert codes(letters) == {
        "undecodable": "invalid_json",
        "wrong_shape": "invalid_event",
        "nul": "invalid_event",
        "lone_surrogate": "invalid_event",
        "oversized": "invalid_event",
    }
    for found in letters.values():
        assert found[0]["tenant"] == tenant_id
        assert found[0]["error"]["message"]
    assert letters["undecodable"][0]["received_base64"] == base64.b64encode(bad[0]).decode()
    await webhook_sink.wait_for(1)
    await all_ready(running)
    ledger.record(
        "Poison records on events.inbound",
        held="5 dead letters on events.deadletter with the reason; the record behind ran; "
        "ingest ready",
        sent=6,
        executions=len(await executions(running, api_key, workflow)),
        effects=len(webhook_sink.headers),
    )


async def test_poison_on_events_normalized_is_dead_lettered_once_by_the_matcher(
    running: Stack,
    producer: AIOKafkaProducer,
    api_key: str,
    tenant_id: str,
    webhook_sink: WebhookSink,
    ledger: Ledger,
) -> None:
    workflow = await create_workflow(
        running,
        api_key,
        {
            "name": "normalized",
            "trigger": "private_offer.accepted",
            "actions": [{"type": "webhook", "url": webhook_sink.url}],
        },
    )
    skipped = await metric(running, "scheduler", "scheduler_records_skipped_total")
    marker = f"poison-{uuid.uuid4().hex[:8]}"
    shaped = envelope(tenant_id, "x")
    bad = poisons(
        marker,
        lambda s: _with(_with(shaped, ("id",), _unique()), ("data", "customerName"), s),
        lambda s: _with(shaped, ("id",), s),
    )
    good = json.dumps(envelope(tenant_id, f"{marker}-good")).encode()
    await produce(producer, _topics(running).events_normalized, tenant_id, [*bad, good])

    run = await finished_execution(running, api_key, workflow)
    assert (run["status"], run["event"]["id"]) == ("succeeded", f"{marker}-good")
    letters = await dead_letters(running, _topics(running).events_deadletter, marker)
    assert set(codes(letters).values()) == {"invalid_envelope"}, letters
    await webhook_sink.wait_for(1)
    async with asyncio.timeout(30):
        while await metric(running, "scheduler", "scheduler_records_skipped_total") < skipped + 5:
            await asyncio.sleep(0.1)
    await all_ready(running)
    ledger.record(
        "Poison records on events.normalized",
        held="5 dead letters (the matcher's, once each); scheduler and executor skip them; "
        "the record behind ran; all ready",
        sent=6,
        executions=len(await executions(running, api_key, workflow)),
        effects=len(webhook_sink.headers),
    )


async def test_poison_on_the_workflows_changelog_is_skipped_and_counted(
    running: Stack,
    producer: AIOKafkaProducer,
    api_key: str,
    tenant_id: str,
    webhook_sink: WebhookSink,
    ledger: Ledger,
) -> None:
    marker = f"poison-{uuid.uuid4().hex[:8]}"
    first = await create_workflow(
        running,
        api_key,
        {
            "name": "changelog",
            "trigger": "schedule.cron",
            "schedule": {"cron": "0 9 * * 1"},
            "actions": [{"type": "webhook", "url": webhook_sink.url}],
        },
    )
    topic = _topics(running).workflows_changelog
    [shaped] = [
        r
        for r in await topic_records(
            running, topic, lambda found: any(r.get("workflow_id") == first["id"] for r in found)
        )
        if r.get("workflow_id") == first["id"]
    ]
    unreadable = await metric(
        running, "matcher", 'matcher_changelog_records_applied_total{outcome="unreadable"}'
    )
    skipped = await metric(running, "scheduler", "scheduler_records_skipped_total")
    versions = itertools.count(99, -1)
    bad = poisons(
        marker,
        lambda s: _with(_with(shaped, ("version",), next(versions)), ("workflow_id",), s),
        lambda s: _with(_with(shaped, ("version",), next(versions)), ("workflow_id",), s),
    )
    await produce(producer, topic, f"{tenant_id}/{first['id']}", bad)
    workflow = await create_workflow(
        running,
        api_key,
        {
            "name": "behind the poison",
            "trigger": "private_offer.accepted",
            "actions": [{"type": "webhook", "url": webhook_sink.url}],
        },
    )
    await send_events(
        running,
        api_key,
        [{"type": "private_offer.accepted", "id": f"{marker}-good", "data": {"n": 1}}],
    )
    run = await finished_execution(running, api_key, workflow)
    assert run["status"] == "succeeded", run
    async with asyncio.timeout(30):
        while (
            await metric(
                running, "matcher", 'matcher_changelog_records_applied_total{outcome="unreadable"}'
            )
            < unreadable + 5
            or await metric(running, "scheduler", "scheduler_records_skipped_total") < skipped + 5
        ):
            await asyncio.sleep(0.1)
    await webhook_sink.wait_for(1)
    await all_ready(running)
    ledger.record(
        "Poison records on workflows.changelog",
        held="5 skipped, counted and logged by matcher and scheduler (no dead letter: read "
        "whole on every assignment); the workflow saved behind ran; all ready",
        sent=6,
        executions=len(await executions(running, api_key, workflow)),
        effects=len(webhook_sink.headers),
    )


async def test_poison_on_executions_requested_is_dead_lettered_by_the_executor(
    running: Stack,
    producer: AIOKafkaProducer,
    api_key: str,
    tenant_id: str,
    webhook_sink: WebhookSink,
    ledger: Ledger,
) -> None:
    marker = f"poison-{uuid.uuid4().hex[:8]}"
    workflow_id = f"wf-{marker}"
    [request] = webhook_requests(tenant_id, webhook_sink.url, workflow_id, 1)
    shaped = json.loads(request.model_dump_json(by_alias=True))
    bad = poisons(
        marker,
        lambda s: _with(_with(shaped, ("execution_id",), _unique()), ("event", "data", "note"), s),
        lambda s: _with(shaped, ("execution_id",), s),
    )
    await produce(
        producer,
        _topics(running).executions_requested,
        workflow_id,
        [*bad, request.model_dump_json(by_alias=True).encode()],
    )
    letters = await dead_letters(running, _topics(running).executions_deadletter, marker)
    assert set(codes(letters).values()) == {"invalid_request"}, letters
    await webhook_sink.wait_for(1)
    [headers] = webhook_sink.headers
    assert headers["webhook-id"] == f"{request.execution_id}:0"
    detail = running.url("config_api", f"/api/executions/{request.execution_id}")
    async with asyncio.timeout(30):
        while (found := await call("GET", detail, api_key, None))[0] != 200 or found[1][
            "status"
        ] not in FINISHED:
            await asyncio.sleep(0.1)
    assert found[1]["status"] == "succeeded", found
    await all_ready(running)
    ledger.record(
        "Poison records on executions.requested",
        held="5 dead letters on executions.deadletter with the reason; the request behind ran; "
        "executor ready",
        sent=6,
        executions=1,
        effects=len(webhook_sink.headers),
    )


async def test_poison_on_executions_deferred_is_dead_lettered_by_the_scheduler(
    running: Stack,
    producer: AIOKafkaProducer,
    api_key: str,
    tenant_id: str,
    webhook_sink: WebhookSink,
    ledger: Ledger,
) -> None:
    workflow = await create_workflow(
        running,
        api_key,
        {
            "name": "parked",
            "trigger": "private_offer.accepted",
            "actions": [
                {"type": "delay", "duration": "1 second"},
                {"type": "webhook", "url": webhook_sink.url},
            ],
        },
    )
    marker = f"poison-{uuid.uuid4().hex[:8]}"
    [request] = webhook_requests(tenant_id, webhook_sink.url, workflow["id"], 1)
    shaped = {
        "request": {
            **json.loads(request.model_dump_json(by_alias=True)),
            "resumption": {
                "timer_id": f"{marker}-timer",
                "reason": "delay",
                "step": 1,
                "due_at": datetime.now(UTC).isoformat(),
            },
        }
    }
    bad = poisons(
        marker,
        lambda s: _with(
            _with(shaped, ("request", "execution_id"), _unique()),
            ("request", "event", "data", "note"),
            s,
        ),
        lambda s: _with(shaped, ("request", "execution_id"), s),
    )
    await produce(producer, _topics(running).executions_deferred, workflow["id"], bad)
    await send_events(
        running,
        api_key,
        [{"type": "private_offer.accepted", "id": f"{marker}-good", "data": {"n": 1}}],
    )
    run = await finished_execution(running, api_key, workflow)
    assert run["status"] == "succeeded", run
    letters = await dead_letters(running, _topics(running).executions_deadletter, marker)
    assert set(codes(letters).values()) == {"invalid_deferred_execution"}, letters
    await webhook_sink.wait_for(1)
    await all_ready(running)
    ledger.record(
        "Poison records on executions.deferred",
        held="5 dead letters on executions.deadletter (the scheduler's); the execution parked "
        "behind them resumed; all ready",
        sent=6,
        executions=len(await executions(running, api_key, workflow)),
        effects=len(webhook_sink.headers),
    )
