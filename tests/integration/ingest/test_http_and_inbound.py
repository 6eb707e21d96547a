"""Ingest against the real broker and PostgreSQL: HTTP intake, Kafka intake, dead letters."""

from __future__ import annotations

import asyncio
import io
import json

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from services.ingest.service import IngestService
from shared import tenancy
from shared.contracts import CloudEvent, EventDeadLetter, Topics
from shared.postgres import Pool
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def api_key(ingest: IngestService, pool: Pool, tenant_id: str) -> str:
    await tenancy.create_tenant(pool, tenant_id)
    return await tenancy.create_api_key(pool, tenant_id)


async def read_records(settings: KafkaSettings, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.bootstrap_servers,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(20):
            while len(values) < count:
                for records in (await consumer.getmany(timeout_ms=200)).values():
                    values.extend(r.value for r in records if r.value is not None)
    finally:
        await consumer.stop()
    return values


def url(service: IngestService, path: str) -> str:
    return f"http://127.0.0.1:{service.http.bound_port}{path}"


async def test_a_native_batch_is_published_as_envelopes_keyed_by_tenant(
    ingest: IngestService, api_key: str, kafka_settings: KafkaSettings, tenant_id: str
) -> None:
    batch = [
        {"type": "private_offer.accepted", "id": "o-1", "data": {"value": 150000}},
        {"type": "customer.created", "data": {"customerName": "Globex"}},
    ]
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            url(ingest, "/v1/events"), json=batch, headers={"Authorization": f"Bearer {api_key}"}
        )
        body = await response.json()
    assert response.status == 202, body
    assert body["accepted"] == 2
    assert body["events"][0]["id"] == "o-1"

    records = await read_records(
        kafka_settings, Topics(kafka_settings.topic_prefix).events_normalized, 2
    )
    events = sorted((CloudEvent.model_validate_json(r) for r in records), key=lambda e: e.type)
    assert [e.type for e in events] == ["customer.created", "private_offer.accepted"]
    assert all(e.tenantid == tenant_id and e.specversion == "1.0" for e in events)
    assert events[1].data == {"value": 150000}


async def test_invalid_events_get_422_naming_each_field_and_nothing_is_published(
    ingest: IngestService, api_key: str
) -> None:
    batch = [{"type": "customer.created"}, {"type": "no.such.type"}, {"data": {}}]
    async with aiohttp.ClientSession() as http:
        response = await http.post(
            url(ingest, "/v1/events"), json=batch, headers={"Authorization": f"Bearer {api_key}"}
        )
        body = await response.json()
    assert response.status == 422
    paths = [d["path"] for d in body["error"]["details"]]
    assert paths == ["$[1].type", "$[2].type"]


@pytest.mark.parametrize(
    ("headers", "data", "status", "code"),
    [
        ({}, b"{}", 401, "unauthorized"),
        ({"Authorization": "Bearer nope"}, b"{}", 401, "unauthorized"),
        (None, b"{not json", 400, "invalid_json"),
        (None, b"[" + b"1," * 600_000 + b"1]", 413, "payload_too_large"),
        ({"Content-Type": "text/csv"}, b"a,b", 415, "unsupported_media_type"),
    ],
)
async def test_bad_requests_get_a_json_error(
    ingest: IngestService,
    api_key: str,
    headers: dict[str, str] | None,
    data: bytes,
    status: int,
    code: str,
) -> None:
    sent = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    if headers is not None:
        sent = {**headers} if "Content-Type" not in headers else {**sent, **headers}
    async with aiohttp.ClientSession() as http:
        response = await http.post(url(ingest, "/v1/events"), data=io.BytesIO(data), headers=sent)
        body = await response.json()
    assert response.status == status
    assert body["error"]["code"] == code


async def test_inbound_records_are_normalized_or_dead_lettered_with_the_reason(
    ingest: IngestService, kafka_settings: KafkaSettings, tenant_id: str
) -> None:
    topics = Topics(kafka_settings.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
    await producer.start()
    try:
        good = {"type": "contract.expiring", "id": "c-9", "data": {"daysUntilExpiry": 90}}
        await producer.send_and_wait(
            topics.events_inbound,
            json.dumps(good).encode(),
            headers=[("source", b"native"), ("tenant", tenant_id.encode())],
        )
        await producer.send_and_wait(
            topics.events_inbound, b"{broken", headers=[("tenant", tenant_id.encode())]
        )
    finally:
        await producer.stop()

    [normalized] = await read_records(kafka_settings, topics.events_normalized, 1)
    event = CloudEvent.model_validate_json(normalized)
    assert (event.id, event.tenantid, event.type) == ("c-9", tenant_id, "contract.expiring")
    [dead] = await read_records(kafka_settings, topics.events_deadletter, 1)
    letter = EventDeadLetter.model_validate_json(dead)
    assert letter.received == "{broken"
    assert letter.error["code"] == "invalid_json"


async def test_probes(ingest: IngestService) -> None:
    async with aiohttp.ClientSession() as http:
        assert (await http.get(url(ingest, "/healthz"))).status == 200
        assert (await http.get(url(ingest, "/readyz"))).status == 200
        metrics = await (await http.get(url(ingest, "/metrics"))).text()
    assert "http_request_duration_seconds" in metrics
