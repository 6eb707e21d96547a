"""Workflows' inbound hooks against the real broker and PostgreSQL: tokens issued by the real
config API, bodies as data, 202 after the ack, one 404 for every wrong URL, 503 without a broker."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from services.config_api.service import ConfigApiService
from services.ingest.service import IngestService
from services.ingest.settings import IngestSettings
from shared.contracts import CloudEvent, Topics
from shared.postgres import Pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import EmbeddedBroker
from tests.conftest import FAST_KAFKA
from tests.integration.config_api.conftest import api  # noqa: F401 - the real config API
from tests.integration.config_api.support import Client, key_for
from tests.integration.ingest.test_http_and_inbound import read_records, url

pytestmark = pytest.mark.integration

HOOK_WORKFLOW: dict[str, Any] = {
    "name": "Form submissions",
    "trigger": "webhook.received",
    "actions": [{"type": "webhook", "url": "https://hooks.example.com/forms"}],
    "active": True,
}


class Hooks:
    """A tenant's API client and its hook-triggered workflows' tokens."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def workflow(self) -> tuple[dict[str, Any], str]:
        """A new webhook.received workflow and the path of its hook."""
        workflow = await self.client.create(HOOK_WORKFLOW)
        return workflow, await self.rotate(workflow)

    async def rotate(self, workflow: dict[str, Any]) -> str:
        status, issued = await self.client.request(
            "POST", f"/api/workflows/{workflow['id']}/hook-token"
        )
        assert status == 201, issued
        return str(issued["path"])


@pytest.fixture
async def hooks(api: ConfigApiService, pool: Pool, tenant_id: str) -> Hooks:  # noqa: F811
    return Hooks(Client(api, await key_for(pool, tenant_id)))


async def post(
    service: IngestService,
    path: str,
    body: bytes,
    content_type: str = "application/json",
    **headers: str,
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            url(service, path),
            data=io.BytesIO(body),
            headers={"Content-Type": content_type, **headers},
        ) as response,
    ):
        return response.status, json.loads(await response.read())


async def normalized(settings: KafkaSettings, count: int) -> list[CloudEvent]:
    topic = Topics(settings.topic_prefix).events_normalized
    return [CloudEvent.model_validate_json(r) for r in await read_records(settings, topic, count)]


async def test_a_json_body_becomes_the_data_of_an_event_for_that_workflow_only(
    ingest: IngestService, hooks: Hooks, kafka_settings: KafkaSettings, tenant_id: str
) -> None:
    workflow, path = await hooks.workflow()
    body = {"customerName": "Globex", "value": 150000, "lines": [{"sku": "A"}], "note": None}

    status, answer = await post(ingest, path, json.dumps(body).encode())
    assert status == 202, answer
    assert (answer["accepted"], answer["published"]) == (1, 1)

    [event] = await normalized(kafka_settings, 1)
    assert event.id == answer["events"][0]["id"]
    assert (event.type, event.tenantid, event.subject, event.source) == (
        "webhook.received",
        tenant_id,
        workflow["id"],
        "hook",
    )
    assert event.data == body


async def test_a_form_body_becomes_a_flat_object(
    ingest: IngestService, hooks: Hooks, kafka_settings: KafkaSettings
) -> None:
    _, path = await hooks.workflow()
    status, answer = await post(
        ingest,
        path,
        b"customerName=Globex+Corp&value=150000&tag=a&tag=b",
        "application/x-www-form-urlencoded; charset=utf-8",
    )
    assert status == 202, answer
    [event] = await normalized(kafka_settings, 1)
    assert event.data == {"customerName": "Globex Corp", "value": "150000", "tag": ["a", "b"]}


async def test_every_wrong_url_is_the_same_404_and_a_rotated_out_token_is_one(
    ingest: IngestService, hooks: Hooks, tenant_id: str
) -> None:
    workflow, path = await hooks.workflow()
    token = path.rsplit("/", 1)[1]
    offers = await hooks.client.create({**HOOK_WORKFLOW, "trigger": "private_offer.accepted"})
    body = b'{"a": 1}'

    wrong = [
        f"/v1/hooks/{tenant_id}/wfh_{'x' * 43}",
        f"/v1/hooks/{tenant_id}/{token[:-1]}",
        f"/v1/hooks/{tenant_id}-other/{token}",
        f"/v1/hooks/no%20such%20tenant/{token}",
        f"/v1/hooks/{tenant_id}/{offers['id']}",
    ]
    answers = {json.dumps(await post(ingest, p, body)) for p in wrong}
    assert answers == {
        json.dumps(
            [404, {"error": {"code": "not_found", "message": "no such hook", "details": []}}]
        )
    }

    new_path = await hooks.rotate(workflow)
    assert (await post(ingest, path, body))[0] == 404, "the old token stopped working"
    assert (await post(ingest, new_path, body))[0] == 202

    await hooks.client.request(
        "PUT", f"/api/workflows/{workflow['id']}", json={"trigger": "customer.created"}
    )
    assert (await post(ingest, new_path, body))[0] == 404, "a hook fires only its trigger"


async def test_bodies_a_hook_cannot_take_are_refused_with_the_field(
    ingest: IngestService, hooks: Hooks
) -> None:
    _, path = await hooks.workflow()

    status, error = await post(ingest, path, b"<xml/>", "text/xml")
    assert (status, error["error"]["code"]) == (415, "unsupported_media_type")
    assert error["error"]["details"][0]["path"] == "header:Content-Type"
    status, error = await post(ingest, path, b"[1, 2]")
    assert (status, error["error"]["details"][0]["path"]) == (422, "$")
    status, error = await post(ingest, path, b"{not json")
    assert (status, error["error"]["code"]) == (400, "invalid_json")
    status, error = await post(ingest, path, b"a=1&&", "application/x-www-form-urlencoded")
    assert (status, error["error"]["code"]) == (400, "invalid_form")
    status, error = await post(ingest, path, json.dumps({"note": "a\u0000b"}).encode())
    assert (status, error["error"]["code"]) == (422, "invalid_event")

    limit = ingest.settings.max_body_bytes
    oversized = json.dumps({"blob": "x" * limit}).encode()
    status, error = await post(ingest, path, oversized)
    assert (status, error["error"]["code"]) == (413, "payload_too_large")


async def test_a_delivery_named_by_its_idempotency_key_is_published_once(
    ingest: IngestService, hooks: Hooks, kafka_settings: KafkaSettings
) -> None:
    _, path = await hooks.workflow()

    status, first = await post(ingest, path, b'{"n": 1}', **{"Idempotency-Key": "delivery-1"})
    assert (status, first["published"]) == (202, 1)
    status, again = await post(ingest, path, b'{"n": 1}', **{"Idempotency-Key": "delivery-1"})
    assert (status, again["published"], again["duplicates"]) == (202, 0, 1)
    assert again["events"] == first["events"]
    status, other = await post(ingest, path, b'{"n": 2}', **{"webhook-id": "msg_2"})
    assert (status, other["published"]) == (202, 1)

    events = await normalized(kafka_settings, 2)
    assert [e.id for e in events] == [first["events"][0]["id"], other["events"][0]["id"]]


@pytest.fixture
def lone_broker() -> Iterator[EmbeddedBroker]:
    broker = EmbeddedBroker()
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
async def ingest_on_lone_broker(
    lone_broker: EmbeddedBroker, topic_prefix: str, postgres_settings: PostgresSettings
) -> AsyncIterator[IngestService]:
    kafka = KafkaSettings(
        bootstrap_servers=lone_broker.bootstrap_servers,
        TOPIC_PREFIX=topic_prefix,
        # Short, for a quick 503, but longer than the broker holds a JoinGroup (half the session
        # timeout, BROKER.md), or the consumer's join times out forever on a busy machine.
        **{**FAST_KAFKA, "request_timeout_ms": 4000},
    )
    service = IngestService(
        IngestSettings(host="127.0.0.1", port=0, kafka=kafka, postgres=postgres_settings)
    )
    await service.start()
    try:
        yield service
    finally:
        if not lone_broker.running:
            lone_broker.start()
        await service.stop()


async def test_without_the_brokers_ack_the_answer_is_503_and_the_retry_is_published(
    ingest_on_lone_broker: IngestService, lone_broker: EmbeddedBroker, hooks: Hooks
) -> None:
    _, path = await hooks.workflow()
    lone_broker.stop()

    status, error = await post(
        ingest_on_lone_broker, path, b'{"n": 1}', **{"Idempotency-Key": "delivery-1"}
    )
    assert (status, error["error"]["code"]) == (503, "broker_unavailable")

    lone_broker.start()
    status, answer = await post(
        ingest_on_lone_broker, path, b'{"n": 1}', **{"Idempotency-Key": "delivery-1"}
    )
    assert (status, answer["published"]) == (202, 1), "the failed delivery was not remembered"
