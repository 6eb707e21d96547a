"""What the bad-input and misbehaving-peer faults share: workflows through the API, the execution
history as the API shows it, and the records of a topic read from its beginning."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.e2e.conftest import Stack, call

FINISHED = ("succeeded", "succeeded_with_errors", "failed", "throttled", "exited")


async def create_workflow(stack: Stack, key: str, definition: dict[str, Any]) -> dict[str, Any]:
    status, workflow = await call(
        "POST", stack.url("config_api", "/api/workflows"), key, {"active": True, **definition}
    )
    assert status == 201, workflow
    return dict(workflow)


async def send_events(stack: Stack, key: str, events: list[dict[str, Any]]) -> None:
    status, accepted = await call("POST", stack.url("ingest", "/v1/events"), key, events)
    assert status == 202, accepted
    assert accepted["published"] == len(events), accepted


async def executions(stack: Stack, key: str, workflow: dict[str, Any]) -> list[dict[str, Any]]:
    history = stack.url("config_api", f"/api/workflows/{workflow['id']}/executions")
    status, page = await call("GET", history, key, None)
    assert status == 200, page
    items: list[dict[str, Any]] = page["items"]
    return items


async def finished_executions(
    stack: Stack, key: str, workflow: dict[str, Any], count: int = 1, *, within: float = 60
) -> dict[str, dict[str, Any]]:
    """The workflow's ``count`` executions once all finished, with their steps, by event id."""
    async with asyncio.timeout(within):
        while True:
            items = await executions(stack, key, workflow)
            if len(items) >= count and all(item["status"] in FINISHED for item in items):
                break
            await asyncio.sleep(0.1)
    assert len(items) == count, items
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        status, detail = await call(
            "GET", stack.url("config_api", f"/api/executions/{item['id']}"), key, None
        )
        assert status == 200, detail
        found[detail["event"]["id"]] = detail
    assert len(found) == count, "two executions for one event"
    return found


async def finished_execution(
    stack: Stack, key: str, workflow: dict[str, Any], *, within: float = 60
) -> dict[str, Any]:
    """The workflow's one execution once it finished, with its steps."""
    [execution] = (await finished_executions(stack, key, workflow, within=within)).values()
    return execution


async def ready(stack: Stack, service: str) -> int:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
        http.get(stack.url(service, "/readyz")) as response,
    ):
        return response.status


async def topic_records(
    stack: Stack,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    *,
    within: float = 30,
) -> list[dict[str, Any]]:
    """Every record of ``topic`` (its value as JSON, ``{"undecodable": bytes}`` when it is not
    JSON) from the beginning, read at least up to the end offsets when called, and on until
    ``until(records)`` holds."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        fetch_max_wait_ms=50,
        enable_auto_commit=False,
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        await consumer.topics()  # metadata: the topic's partitions
        numbers = consumer.partitions_for_topic(topic) or set()
        partitions = [TopicPartition(topic, number) for number in sorted(numbers)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        async with asyncio.timeout(within):
            while True:
                behind = [tp for tp, end in ends.items() if await consumer.position(tp) < end]
                if not behind and until(found):
                    break
                for batch in (await consumer.getmany(timeout_ms=200)).values():
                    for record in batch:
                        try:
                            found.append(json.loads(record.value or b"null"))
                        except ValueError:
                            found.append({"undecodable": record.value})
    finally:
        await consumer.stop()
    return found
