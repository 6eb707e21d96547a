"""Helpers of the matcher's integration tests: workflows and events in, requests out."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata
from prometheus_client import REGISTRY

from services.matcher.service import MatcherService
from shared.contracts import (
    CloudEvent,
    ExecutionRequest,
    Schedule,
    Topics,
    TriggerType,
    WebhookAction,
    WorkflowChange,
    WorkflowDefinition,
    WorkflowStatus,
)
from shared.kafka import encode, tenant_partition
from shared.settings import KafkaSettings

WAIT_SECONDS = 30


def definition(
    trigger: TriggerType, status: WorkflowStatus = "active", name: str = "workflow"
) -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name,
        trigger=trigger,
        schedule=Schedule(cron="0 9 * * 1-5") if trigger == "schedule.cron" else None,
        actions=[WebhookAction(type="webhook", url="https://hooks.example.com/wf")],
        status=status,
    )


async def publish_change(
    producer: AIOKafkaProducer,
    topics: Topics,
    tenant_id: str,
    workflow_id: str,
    version: int,
    workflow: WorkflowDefinition | None,
) -> RecordMetadata:
    change = WorkflowChange(
        tenant_id=tenant_id,
        workflow_id=workflow_id,
        version=version,
        workflow=workflow,
        changed_at=datetime.now(UTC),
    )
    return await producer.send_and_wait(
        topics.workflows_changelog, encode(change), key=change.key.encode()
    )


async def publish_event(
    producer: AIOKafkaProducer,
    topics: Topics,
    tenant_id: str,
    event_type: TriggerType,
    subject: str | None = None,
) -> CloudEvent:
    event = CloudEvent(
        id=f"evt_{uuid.uuid4().hex[:12]}",
        source="native",
        type=event_type,
        tenantid=tenant_id,
        subject=subject,
        data={"customerName": "Globex", "value": 150000},
    )
    await producer.send_and_wait(topics.events_normalized, encode(event), key=tenant_id.encode())
    return event


def events_handled() -> float:
    """Events whose requests the broker acknowledged: each is timed once, then acked."""
    return REGISTRY.get_sample_value("matcher_match_latency_seconds_count") or 0.0


def events_rejected() -> float:
    return REGISTRY.get_sample_value("matcher_events_rejected_total") or 0.0


async def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition``; fail (never pass) if it does not hold within the bound."""
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def workflows_applied(matcher: MatcherService, record: RecordMetadata) -> None:
    """Wait until the matcher has read the changelog past ``record``."""

    def applied() -> bool:
        assert matcher.workflows is not None
        position = matcher.workflows.position(record.partition)
        return position is not None and position > record.offset

    await eventually(applied, f"the matcher to read changelog offset {record.offset}")


async def read_records(settings: KafkaSettings, topic: str) -> list[bytes]:
    """Every record value on ``topic`` up to its end offsets now, partition by partition."""
    return [value for _, value in await _read(settings, topic)]


async def read_requests(
    settings: KafkaSettings, topic: str
) -> list[tuple[bytes, ExecutionRequest]]:
    """Every record on ``topic`` up to its end offsets now, as (key, request)."""
    return [
        (key, ExecutionRequest.model_validate_json(value))
        for key, value in await _read(settings, topic)
    ]


async def _read(settings: KafkaSettings, topic: str) -> list[tuple[bytes, bytes]]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        found: list[tuple[bytes, bytes]] = []
        async with asyncio.timeout(WAIT_SECONDS):
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    found.extend((r.key or b"", r.value or b"") for r in records)
        return found
    finally:
        await consumer.stop()


async def requests_for(
    settings: KafkaSettings, topics: Topics, *events: CloudEvent
) -> list[tuple[bytes, ExecutionRequest]]:
    """Every request on the topic, once there is one for each of ``events``."""
    wanted = {event.id for event in events}
    found: list[tuple[bytes, ExecutionRequest]] = []
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                found = await read_requests(settings, topics.executions_requested)
                if wanted <= {request.event.id for _, request in found}:
                    return found
    except TimeoutError:
        seen = {request.event.id for _, request in found}
        missing = sorted(
            (tenant_partition(event.tenantid, settings.topic_partitions), event.id)
            for event in events
            if event.id not in seen
        )
        pytest.fail(f"no request after {WAIT_SECONDS}s for (partition, event): {missing}")


async def events_processed(handled_before: float, events: int) -> None:
    """Wait until the matcher has processed ``events`` more events, requests acknowledged."""
    await eventually(
        lambda: events_handled() >= handled_before + events,
        f"the matcher to handle {events} events",
    )
