"""Vendor webhooks against the real broker and PostgreSQL: authentication, acks, dedup, errors."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import io
import json
import time
import uuid
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from services.ingest.service import IngestService
from shared import tenancy
from shared.contracts import CloudEvent, EventDeadLetter, Topics
from shared.postgres import Pool
from shared.settings import KafkaSettings
from tests.integration.ingest.test_http_and_inbound import read_records, url

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sources"
APP_SECRET = "hubspot-app-secret"
SHARED_SECRET = "shared-inbound-secret"


@pytest.fixture
async def tenant(ingest: IngestService, pool: Pool, tenant_id: str) -> str:
    await tenancy.create_tenant(pool, tenant_id)
    await tenancy.set_inbound_secret(pool, tenant_id, "hubspot", APP_SECRET)
    for source in ("aws", "azure", "salesforce"):
        await tenancy.set_inbound_secret(pool, tenant_id, source, SHARED_SECRET)
    return tenant_id


def hubspot_v3(
    method: str, uri: str, body: bytes, *, secret: str = APP_SECRET, age_ms: int = 0
) -> dict[str, str]:
    stamp = str(time.time_ns() // 1_000_000 - age_ms)
    digest = hmac.new(
        secret.encode(), method.encode() + uri.encode() + body + stamp.encode(), hashlib.sha256
    )
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest.digest()).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def bearer(content_type: str = "application/json") -> dict[str, str]:
    return {"Authorization": f"Bearer {SHARED_SECRET}", "Content-Type": content_type}


async def post(
    service: IngestService, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(url(service, path), data=io.BytesIO(body), headers=headers) as response,
    ):
        return response.status, response.content_type, await response.text()


async def test_a_signed_hubspot_batch_is_published_once_however_often_hubspot_retries(
    ingest: IngestService, tenant: str, kafka_settings: KafkaSettings
) -> None:
    path = f"/v1/webhooks/hubspot/{tenant}?portal=33"
    body = (FIXTURES / "hubspot" / "webhook-batch.json").read_bytes()
    status, _, text = await post(ingest, path, body, hubspot_v3("POST", url(ingest, path), body))
    assert status == 200, text
    first = json.loads(text)
    assert (first["accepted"], first["published"]) == (2, 2)

    retry = body.replace(b'"attemptNumber": 0', b'"attemptNumber": 1')
    status, _, text = await post(ingest, path, retry, hubspot_v3("POST", url(ingest, path), retry))
    again = json.loads(text)
    assert status == 200
    assert (again["published"], again["duplicates"]) == (0, 2)
    assert [e["id"] for e in again["events"]] == [e["id"] for e in first["events"]]

    records = await read_records(
        kafka_settings, Topics(kafka_settings.topic_prefix).events_normalized, 2
    )
    events = {CloudEvent.model_validate_json(r).type for r in records}
    assert events == {"customer.updated", "customer.created"}


@pytest.mark.parametrize("version", ["v1", "v2"])
async def test_older_hubspot_signatures_are_verified(
    ingest: IngestService, tenant: str, version: str
) -> None:
    path = f"/v1/webhooks/hubspot/{tenant}"
    body = (FIXTURES / "hubspot" / "sensitive-property-change.json").read_bytes()
    signed = (
        APP_SECRET.encode()
        + (b"POST" + url(ingest, path).encode() if version == "v2" else b"")
        + body
    )
    headers = {
        "Content-Type": "application/json",
        "X-HubSpot-Signature": hashlib.sha256(signed).hexdigest(),
        "X-HubSpot-Signature-Version": version,
    }
    status, _, text = await post(ingest, path, body, headers)
    assert status == 200, text


async def test_unknown_tenant_unknown_source_and_wrong_credentials_look_the_same(
    ingest: IngestService, tenant: str
) -> None:
    body = (FIXTURES / "aws" / "offer-released.json").read_bytes()
    wrong = {"Authorization": "Bearer not-the-secret", "Content-Type": "application/json"}
    answers = {
        await post(ingest, f"/v1/webhooks/aws/{tenant}", body, wrong),
        await post(ingest, "/v1/webhooks/aws/no-such-tenant", body, bearer()),
        await post(ingest, f"/v1/webhooks/stripe/{tenant}", body, bearer()),
        await post(ingest, f"/v1/webhooks/native/{tenant}", body, bearer()),  # no secret set
    }
    [(status, content_type, text)] = answers
    assert (status, content_type) == (401, "application/json")
    assert json.loads(text)["error"]["code"] == "unauthorized"

    hubspot_path = f"/v1/webhooks/hubspot/{tenant}"
    forged = hubspot_v3("POST", url(ingest, hubspot_path), body, secret="guess")
    stale = hubspot_v3("POST", url(ingest, hubspot_path), body, age_ms=6 * 60 * 1000)
    assert (await post(ingest, hubspot_path, body, forged))[0] == 401
    status, _, text = await post(ingest, hubspot_path, body, stale)
    assert status == 401
    assert "5 minutes" in json.loads(text)["error"]["message"]


async def test_aws_eventbridge_sns_and_basic_credentials(
    ingest: IngestService, tenant: str, kafka_settings: KafkaSettings
) -> None:
    path = f"/v1/webhooks/aws/{tenant}"
    created = (FIXTURES / "aws" / "purchase-agreement-created-proposer.json").read_bytes()
    status, _, text = await post(ingest, path, created, bearer())
    assert status == 200, text
    assert [e["type"] for e in json.loads(text)["events"]] == [
        "private_offer.accepted",
        "contract.created",
    ]

    basic = base64.b64encode(f"sns:{SHARED_SECRET}".encode()).decode()
    sns = (FIXTURES / "aws" / "sns-subscribe-success.json").read_bytes()
    headers = {"Authorization": f"Basic {basic}", "Content-Type": "text/plain; charset=UTF-8"}
    status, _, text = await post(ingest, path, sns, headers)
    assert status == 200, text
    assert [e["type"] for e in json.loads(text)["events"]] == ["customer.created"]

    confirmation = (FIXTURES / "aws" / "sns-subscription-confirmation.json").read_bytes()
    status, _, text = await post(
        ingest,
        path,
        confirmation,
        {**headers, "x-amz-sns-message-type": "SubscriptionConfirmation"},
    )
    assert status == 200
    assert json.loads(text)["events"] == []
    [dead] = await read_records(
        kafka_settings, Topics(kafka_settings.topic_prefix).events_deadletter, 1
    )
    letter = EventDeadLetter.model_validate_json(dead)
    assert letter.error["code"] == "sns_subscription_confirmation"
    assert letter.headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert "Authorization" not in letter.headers
    assert {
        "path": "SubscribeURL",
        "message": json.loads(confirmation)["SubscribeURL"],
    } in letter.error["details"]


async def test_salesforce_outbound_messages_get_the_soap_acknowledgement(
    ingest: IngestService, tenant: str
) -> None:
    body = (FIXTURES / "salesforce" / "outbound-message-custom-object.xml").read_bytes()
    path = f"/v1/webhooks/salesforce/{tenant}?token={SHARED_SECRET}"
    status, content_type, text = await post(
        ingest, path, body, {"Content-Type": "text/xml; charset=utf-8"}
    )
    assert (status, content_type) == (200, "text/xml")
    assert "<Ack>true</Ack>" in text
    assert "notificationsResponse" in text


@pytest.mark.parametrize(
    ("source", "fixture", "content_type", "status", "code", "path"),
    [
        ("azure", "change-quantity.json", "application/json", 400, "invalid_json", "$"),
        (
            "aws",
            "purchase-agreement-ended-acceptor.json",
            "application/json",
            422,
            "unmappable_event",
            "$.detail.agreement.status",
        ),
        (
            "aws",
            "offer-released.json",
            "application/xml",
            415,
            "unsupported_media_type",
            "header:Content-Type",
        ),
        ("salesforce", None, "text/xml", 400, "forbidden_xml", "$"),
        ("azure", None, "application/json", 422, "missing_field", "$.subscriptionId"),
    ],
)
async def test_bad_vendor_input_gets_a_precise_error(
    ingest: IngestService,
    tenant: str,
    source: str,
    fixture: str | None,
    content_type: str,
    status: int,
    code: str,
    path: str,
) -> None:
    if fixture is not None:
        body = (FIXTURES / source / fixture).read_bytes()
    elif source == "salesforce":
        body = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    else:
        body = json.dumps({"id": "op-1", "action": "Renew"}).encode()
    answer = await post(ingest, f"/v1/webhooks/{source}/{tenant}", body, bearer(content_type))
    error = json.loads(answer[2])["error"]
    assert (answer[0], error["code"]) == (status, code)
    assert path in [d["path"] for d in error["details"]]


async def test_an_oversized_webhook_body_is_refused(ingest: IngestService, tenant: str) -> None:
    body = b"[" + b"1," * 600_000 + b"1]"
    status, _, text = await post(ingest, f"/v1/webhooks/aws/{tenant}", body, bearer())
    assert status == 413
    assert json.loads(text)["error"]["code"] == "payload_too_large"


async def test_every_source_format_is_accepted_on_v1_events_and_events_inbound(
    ingest: IngestService, tenant: str, pool: Pool, kafka_settings: KafkaSettings
) -> None:
    key = await tenancy.create_api_key(pool, tenant)
    body = (FIXTURES / "azure" / "suspend.json").read_bytes()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    status, _, text = await post(ingest, "/v1/events?source=azure", body, headers)
    assert status == 202, text
    assert [e["type"] for e in json.loads(text)["events"]] == ["customer.updated"]

    topics = Topics(kafka_settings.topic_prefix)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
    await producer.start()
    try:
        cdc = (FIXTURES / "salesforce" / "cdc-account-create-cometd.json").read_bytes()
        await producer.send_and_wait(
            topics.events_inbound,
            cdc,
            headers=[("source", b"salesforce"), ("tenant", tenant.encode())],
        )
        await producer.send_and_wait(
            topics.events_inbound,
            b"\xff\xfe",
            headers=[("source", b"hubspot"), ("tenant", tenant.encode())],
        )
    finally:
        await producer.stop()
    records = await read_records(kafka_settings, topics.events_normalized, 2)
    assert {CloudEvent.model_validate_json(r).type for r in records} == {
        "customer.updated",
        "customer.created",
    }
    [dead] = await read_records(kafka_settings, topics.events_deadletter, 1)
    letter = EventDeadLetter.model_validate_json(dead)
    assert (letter.error["code"], letter.source, letter.tenant) == (
        "invalid_json",
        "hubspot",
        tenant,
    )
    assert letter.received_base64 == base64.b64encode(b"\xff\xfe").decode()
    assert letter.headers == {"source": "hubspot", "tenant": tenant}


async def test_concurrent_duplicates_carry_one_id(ingest: IngestService, tenant: str) -> None:
    body = json.dumps(
        {
            **json.loads((FIXTURES / "aws" / "offer-released.json").read_bytes()),
            "id": str(uuid.uuid4()),
        }
    ).encode()
    answers = await asyncio.gather(
        *(post(ingest, f"/v1/webhooks/aws/{tenant}", body, bearer()) for _ in range(4))
    )
    ids = {json.loads(text)["events"][0]["id"] for _, _, text in answers}
    assert len(ids) == 1
    assert all(status == 200 for status, _, _ in answers)


async def test_ids_older_than_the_window_are_not_duplicates_and_are_purged(
    ingest: IngestService, pool: Pool, tenant: str
) -> None:
    store = ingest.store
    await store.remember(tenant, ["evt_old", "evt_new"])
    await pool.execute(
        "UPDATE ingest_published_events SET published_at = now() - interval '73 hours'"
        " WHERE tenant_id = $1 AND event_id = 'evt_old'",
        tenant,
    )
    assert await store.published(tenant, ["evt_old", "evt_new"]) == {"evt_new"}
    assert await store.published("another-tenant", ["evt_new"]) == set()
    assert await store.purge_expired(limit=100) >= 1
    remaining = await pool.fetch(
        "SELECT event_id FROM ingest_published_events WHERE tenant_id = $1", tenant
    )
    assert [row["event_id"] for row in remaining] == ["evt_new"]
