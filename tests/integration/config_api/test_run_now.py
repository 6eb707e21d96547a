"""Run now through the real pipeline: the config API queues the request (outbox →
``executions.requested`` on the real broker), a real executor performs it against a local
receiver, and the execution shows in the history like any other.

Unlike the other config API tests this module starts an executor in process: what is tested is
the hand-over between the two services.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from services.config_api.adapters.http.openapi import openapi_document
from services.config_api.service import ConfigApiService
from services.config_api.settings import ConfigApiSettings
from services.executor.service import ExecutorService
from services.executor.settings import ExecutorSettings, WebhookSettings
from shared.contracts import Topics, execution_id_for
from shared.contracts.envelope import CloudEvent
from shared.postgres import Pool
from shared.settings import KafkaSettings, PostgresSettings
from tests.integration.config_api.support import Client, key_for
from tests.integration.executor.conftest import SIGNING_SECRET, Receiver

pytestmark = pytest.mark.integration

WAIT_SECONDS = 30


@pytest.fixture
async def api(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings
) -> AsyncIterator[ConfigApiService]:
    service = ConfigApiService(
        ConfigApiSettings(
            host="127.0.0.1",
            port=0,
            kafka=kafka_settings,
            postgres=postgres_settings,
            outbox_poll_seconds=0.1,
            run_data_max_bytes=1024,
            # The executor's setting of the same name: workflows may call the local receiver.
            WEBHOOK_ALLOW_PRIVATE_NETWORKS=True,
        )
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def executor(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, topic_prefix: str
) -> AsyncIterator[ExecutorService]:
    service = ExecutorService(
        ExecutorSettings(
            host="127.0.0.1",
            port=0,
            kafka=kafka_settings,
            postgres=postgres_settings,
            consumer_group=f"executor-{topic_prefix}",
            exit_consumer_group=f"executor-exits-{topic_prefix}",
            shutdown_grace_seconds=10,
            lease_seconds=3,
            webhook=WebhookSettings(
                signing_secret=SecretStr(SIGNING_SECRET), allow_private_networks=True
            ),
        )
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    await receiver.start()
    try:
        yield receiver
    finally:
        await receiver.stop()


def hook_workflow(receiver: Receiver, path: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "Tell the partner",
        "trigger": "private_offer.accepted",
        "actions": [{"type": "webhook", "url": receiver.url(path)}],
        "status": "active",
        **fields,
    }


async def finished(client: Client, execution_id: str) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_SECONDS):
        while True:
            status, execution = await client.request("GET", f"/api/executions/{execution_id}")
            if status == 200 and execution["status"] not in ("running", "waiting"):
                return dict(execution)
            await asyncio.sleep(0.1)


async def records_on(kafka_settings: KafkaSettings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka_settings.bootstrap_servers)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()


@pytest.mark.usefixtures("executor")
async def test_run_now_performs_the_workflow_and_shows_it_in_the_history(
    api: ConfigApiService,
    pool: Pool,
    tenant_id: str,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create(hook_workflow(receiver, "run"))

    reply = await client.call(
        "POST", f"/api/workflows/{workflow['id']}/run", json={"data": {"customerName": "Globex"}}
    )
    assert reply.status == 202, reply.body
    accepted = reply.body
    execution_id = accepted["executionId"]
    assert reply.headers["Location"] == f"/api/executions/{execution_id}"
    assert (accepted["workflowVersion"], accepted["forced"]) == (1, False)
    schema = {
        "$ref": "#/components/schemas/RunAccepted",
        "components": openapi_document(200)["components"],
    }
    jsonschema.validate(accepted, schema, cls=jsonschema.Draft202012Validator)

    execution = await finished(client, execution_id)
    assert execution["status"] == "succeeded", execution
    event = execution["event"]
    assert (event["type"], event["subject"], event["data"]) == (
        "workflow.triggered",
        workflow["id"],
        {"customerName": "Globex"},
    )
    assert event["source"].startswith("config-api:api-key:")
    assert execution_id == execution_id_for(CloudEvent.model_validate(event), workflow["id"], 1)
    delivered = await receiver.wait_for("run", 1)
    sent = json.loads(delivered[0].body)
    assert (sent["executionId"], sent["event"]["data"]) == (
        execution_id,
        {"customerName": "Globex"},
    )

    status, history = await client.request("GET", f"/api/workflows/{workflow['id']}/executions")
    assert (status, [e["id"] for e in history["items"]]) == (200, [execution_id])
    status, runs = await client.request("GET", f"/api/executions?workflow={workflow['id']}")
    assert [(r["id"], r["eventType"], r["workflowName"]) for r in runs["items"]] == [
        (execution_id, "workflow.triggered", "Tell the partner")
    ]
    status, audit = await client.request("GET", f"/api/audit?resourceId={workflow['id']}")
    run_entry = next(entry for entry in audit["items"] if entry["action"] == "run")
    assert run_entry["after"]["executionId"] == execution_id
    # Straight to the executor: nothing on events.normalized for the matcher to start others with.
    assert (
        await records_on(kafka_settings, Topics(kafka_settings.topic_prefix).events_normalized) == 0
    )


@pytest.mark.usefixtures("executor")
async def test_a_paused_workflow_runs_only_when_forced(
    api: ConfigApiService, pool: Pool, tenant_id: str, receiver: Receiver
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    workflow = await client.create(hook_workflow(receiver, "paused", status="paused"))
    path = f"/api/workflows/{workflow['id']}/run"

    status, refused = await client.request("POST", path)
    assert (status, refused["error"]["code"]) == (409, "workflow_paused")
    assert refused["error"]["details"][0]["path"] == "$.force"
    status, accepted = await client.request("POST", path, json={"force": True})
    assert (status, accepted["forced"]) == (202, True), accepted
    assert (await finished(client, accepted["executionId"]))["status"] == "succeeded"
    assert len(await receiver.wait_for("paused", 1)) == 1

    draft = await client.create(hook_workflow(receiver, "draft", status="draft"))
    status, refused = await client.request(
        "POST", f"/api/workflows/{draft['id']}/run", json={"force": True}
    )
    assert (status, refused["error"]["code"]) == (409, "workflow_not_active")


async def test_runs_that_cannot_happen_are_refused_precisely(
    api: ConfigApiService, pool: Pool, tenant_id: str, receiver: Receiver
) -> None:
    client = Client(api, await key_for(pool, tenant_id))
    conditional = await client.create(
        hook_workflow(
            receiver,
            "never",
            conditions={
                "logic": "AND",
                "rules": [{"field": "value", "operator": "greater_than", "value": 100000}],
            },
        )
    )
    path = f"/api/workflows/{conditional['id']}/run"

    status, unmet = await client.request("POST", path, json={"data": {"value": 5}})
    assert (status, unmet["error"]["code"]) == (422, "conditions_not_met")
    assert unmet["error"]["details"][0]["path"] == "$.data.value"
    status, large = await client.request("POST", path, json={"data": {"x": "y" * 2000}})
    assert (status, large["error"]["code"], large["error"]["details"][0]["path"]) == (
        413,
        "data_too_large",
        "$.data",
    )
    status, invalid = await client.request("POST", path, json={"force": "yes"})
    assert (status, invalid["error"]["details"][0]["path"]) == (422, "$.force")
    status, _ = await client.request("POST", path, data=b"{not json")
    assert status == 400
    assert (await client.request("POST", "/api/workflows/wf_unknown/run"))[0] == 404

    other = Client(api, await key_for(pool, tenant_id + "-other"))
    status, error = await other.request("POST", path, json={"data": {"value": 200000}})
    assert (status, error["error"]["code"]) == (404, "not_found")
    reader = Client(api, await key_for(pool, tenant_id, role="read-only"))
    status, error = await reader.request("POST", path, json={"data": {"value": 200000}})
    assert (status, error["error"]["code"]) == (403, "forbidden")
    audit = await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE resource_id = $1 AND action = 'run'",
        conditional["id"],
    )
    assert audit == 0, "nothing refused was run or audited"
    assert receiver.at("never") == []
