"""The executor against the real broker and PostgreSQL, delivering to a real local HTTP receiver."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import aiohttp
import pytest
from pydantic import SecretStr
from standardwebhooks import Webhook

from services.executor.adapters.outbound import OutboundHttp
from services.executor.adapters.webhook import WebhookSender
from services.executor.service import ExecutorService
from services.executor.settings import WebhookSettings
from shared.contracts import ExecutionDeadLetter, WorkflowDefinition
from shared.postgres import Pool
from shared.settings import KafkaSettings
from shared.testing.network import FixedResolver
from tests.integration.executor.conftest import (
    SIGNING_SECRET,
    Receiver,
    StartExecutor,
    a_request,
    as_record,
    committed_offsets,
    dead_lettered_execution,
    dead_letters,
    finished_execution,
    produce,
    steps_of,
)

pytestmark = pytest.mark.integration


async def test_a_webhook_arrives_signed_and_the_execution_is_recorded_as_succeeded(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    request = a_request(tenant_id, receiver.url("partner"))
    await produce(kafka_settings, as_record(request))

    [delivery] = await receiver.wait_for("partner", 1)
    body = Webhook(SIGNING_SECRET).verify(delivery.body, delivery.headers)
    assert delivery.method == "POST"
    assert delivery.headers["webhook-id"] == f"{request.execution_id}:0"
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-Partner"] == "globex"
    assert body["executionId"] == request.execution_id
    assert body["workflowId"] == request.workflow_id
    assert body["workflowVersion"] == 1
    assert body["event"]["id"] == request.event.id
    assert body["event"]["data"] == {"customerName": "Globex", "value": 150000}

    execution = await finished_execution(pool, request.execution_id)
    assert execution["status"] == "succeeded"
    assert execution["tenant_id"] == tenant_id
    assert execution["trigger_type"] == "private_offer.accepted"
    assert execution["event"]["id"] == request.event.id
    assert execution["finished_at"] is not None
    [step] = await steps_of(pool, request.execution_id)
    assert (step["status"], step["attempts"], step["response_status"]) == ("succeeded", 1, 200)
    assert step["request"] == {
        "method": "POST",
        "url": receiver.url("partner"),
        "webhookId": f"{request.execution_id}:0",
    }


async def test_a_request_delivered_twice_performs_the_webhook_once(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    request = a_request(tenant_id, receiver.url("twice"))
    # Same workflow, so the same partition: once the later request has run, both copies of the
    # first have been handled.
    later = a_request(tenant_id, receiver.url("after"), workflow_id=request.workflow_id)
    await produce(kafka_settings, as_record(request), as_record(request), as_record(later))

    await finished_execution(pool, later.execution_id)
    assert len(receiver.at("twice")) == 1
    assert (await finished_execution(pool, request.execution_id))["status"] == "succeeded"
    assert len(await steps_of(pool, request.execution_id)) == 1


async def test_a_receiver_failing_transiently_is_retried_until_it_accepts(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    receiver.answer("flaky", 500, 500, 200)
    request = a_request(tenant_id, receiver.url("flaky"))
    await produce(kafka_settings, as_record(request))

    execution = await finished_execution(pool, request.execution_id)
    assert execution["status"] == "succeeded"
    [step] = await steps_of(pool, request.execution_id)
    assert (step["status"], step["attempts"], step["response_status"]) == ("succeeded", 3, 200)
    deliveries = receiver.at("flaky")
    assert len(deliveries) == 3
    assert {d.headers["webhook-id"] for d in deliveries} == {f"{request.execution_id}:0"}
    for delivery in deliveries:
        Webhook(SIGNING_SECRET).verify(delivery.body, delivery.headers)


async def test_a_rejected_webhook_fails_the_execution_and_is_dead_lettered(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    receiver.answer("strict", 400)
    request = a_request(tenant_id, receiver.url("strict"), receiver.url("never"))
    await produce(kafka_settings, as_record(request))

    execution = await dead_lettered_execution(pool, request.execution_id)
    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "webhook_rejected"
    assert execution["error"]["responseStatus"] == 400
    [step] = await steps_of(pool, request.execution_id)
    assert (step["status"], step["attempts"], step["response_status"]) == ("failed", 1, 400)
    assert step["error"]["code"] == "webhook_rejected"
    assert receiver.at("never") == []

    [(key, value)] = await dead_letters(kafka_settings, 1)
    letter = ExecutionDeadLetter.model_validate_json(value)
    assert key == request.workflow_id.encode()
    assert letter.request == request
    assert letter.error["code"] == "webhook_rejected"
    assert letter.error["step"] == 0


async def test_an_undecodable_record_is_dead_lettered_and_the_next_one_still_runs(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    request = a_request(tenant_id, receiver.url("after-poison"))
    await produce(kafka_settings, (b"{not json", request.workflow_id.encode()), as_record(request))

    [(key, value)] = await dead_letters(kafka_settings, 1)
    letter = ExecutionDeadLetter.model_validate_json(value)
    assert key == request.workflow_id.encode()
    assert letter.request is None
    assert letter.received == "{not json"
    assert letter.error["code"] == "invalid_request"
    assert (await finished_execution(pool, request.execution_id))["status"] == "succeeded"


async def test_a_webhook_to_a_private_address_is_refused_unless_private_networks_are_allowed(
    start_executor: StartExecutor,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    await start_executor(allow_private_networks=False)
    request = a_request(tenant_id, receiver.url("internal"))
    await produce(kafka_settings, as_record(request))

    execution = await finished_execution(pool, request.execution_id)
    assert execution["status"] == "failed"
    assert execution["error"]["code"] == "destination_refused"
    [step] = await steps_of(pool, request.execution_id)
    assert (step["status"], step["attempts"]) == ("failed", 0)
    assert "127.0.0.1 is not a public address" in step["error"]["message"]
    assert receiver.at("internal") == []
    [(_, value)] = await dead_letters(kafka_settings, 1)
    assert ExecutionDeadLetter.model_validate_json(value).error["code"] == "destination_refused"


async def test_a_name_resolving_to_a_private_address_is_refused_when_connecting(
    receiver: Receiver, tenant_id: str
) -> None:
    # A name that DNS answers with a loopback address (a rebinding attack, say).
    settings = WebhookSettings(
        signing_secret=SecretStr(SIGNING_SECRET), allow_private_networks=False
    )
    http = OutboundHttp(settings, resolver=FixedResolver("127.0.0.1"))
    await http.start()
    try:
        request = a_request(tenant_id, receiver.url("by-name", host="hooks.rebound.test"))
        outcome = await WebhookSender(settings, http).perform(
            request, 0, request.workflow.actions[0]
        )
    finally:
        await http.close()

    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error.code == "destination_refused"
    assert "hooks.rebound.test resolves to 127.0.0.1" in outcome.error.message
    assert outcome.attempts == 1
    assert receiver.at("by-name") == []


async def test_an_interrupted_execution_resumes_at_its_first_unfinished_step(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    request = a_request(tenant_id, receiver.url("first"), receiver.url("second"))
    now = datetime.now(UTC)
    # What a crash after the first step leaves behind: a running execution, one step recorded.
    await pool.execute(
        "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type, event)"
        " VALUES ($1, $2, $3, 1, 'private_offer.accepted', $4)",
        request.execution_id,
        tenant_id,
        request.workflow_id,
        request.event.model_dump(mode="json"),
    )
    await pool.execute(
        "INSERT INTO execution_steps (execution_id, tenant_id, step_index, action_type, status,"
        " attempts, response_status, started_at, finished_at)"
        " VALUES ($1, $2, 0, 'webhook', 'succeeded', 1, 200, $3, $3)",
        request.execution_id,
        tenant_id,
        now,
    )
    await produce(kafka_settings, as_record(request))

    assert (await finished_execution(pool, request.execution_id))["status"] == "succeeded"
    assert receiver.at("first") == []
    [delivery] = receiver.at("second")
    assert delivery.headers["webhook-id"] == f"{request.execution_id}:1"
    assert [s["status"] for s in await steps_of(pool, request.execution_id)] == [
        "succeeded",
        "succeeded",
    ]


async def test_probes_and_metrics(executor: ExecutorService) -> None:
    base = f"http://127.0.0.1:{executor.http.bound_port}"
    async with aiohttp.ClientSession() as http:
        assert (await http.get(f"{base}/healthz")).status == 200
        assert (await http.get(f"{base}/readyz")).status == 200
        metrics = await (await http.get(f"{base}/metrics")).text()
    assert "executor_actions_total" in metrics
    assert "executor_executions_finished_total" in metrics


async def test_stopping_finishes_the_execution_in_flight_and_commits_it(
    start_executor: StartExecutor,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    executor = await start_executor()
    released = receiver.hold("slow")
    request = a_request(tenant_id, receiver.url("slow"))
    await produce(kafka_settings, as_record(request))
    await receiver.wait_for("slow", 1)

    stopping = asyncio.create_task(executor.stop())
    await asyncio.sleep(0)  # let the stop begin while the webhook is in flight
    assert not executor.ready
    released.set()
    await stopping

    assert (await finished_execution(pool, request.execution_id))["status"] == "succeeded"
    assert await committed_offsets(kafka_settings, executor.settings.consumer_group) == 1


async def test_an_execution_abandoned_at_shutdown_is_resumed_by_the_next_executor(
    start_executor: StartExecutor,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    first = await start_executor(shutdown_grace_seconds=0.1)
    released = receiver.hold("stuck")
    request = a_request(tenant_id, receiver.url("stuck"))
    await produce(kafka_settings, as_record(request))
    await receiver.wait_for("stuck", 1)

    await first.stop()  # the receiver never answered within the grace period
    row = await pool.fetchrow("SELECT status FROM executions WHERE id = $1", request.execution_id)
    assert row is not None
    assert row["status"] == "running"
    assert await steps_of(pool, request.execution_id) == []
    assert await committed_offsets(kafka_settings, first.settings.consumer_group) == 0

    released.set()
    await start_executor()
    assert (await finished_execution(pool, request.execution_id))["status"] == "succeeded"
    deliveries = await receiver.wait_for("stuck", 2)
    assert {d.headers["webhook-id"] for d in deliveries} == {f"{request.execution_id}:0"}


async def test_an_action_whose_own_conditions_fail_is_skipped_and_the_rest_run(
    executor: ExecutorService,
    receiver: Receiver,
    kafka_settings: KafkaSettings,
    pool: Pool,
    tenant_id: str,
) -> None:
    """Seed 001's per-action "only if": the event's value is 150000."""
    base = a_request(tenant_id, receiver.url("always"), receiver.url("only-small"))
    definition = base.workflow.model_dump(mode="json", by_alias=True)
    definition["actions"][1]["conditions"] = {
        "rules": [{"field": "value", "operator": "less_than", "value": 1000}]
    }
    request = base.model_copy(update={"workflow": WorkflowDefinition.model_validate(definition)})
    await produce(kafka_settings, as_record(request))

    assert (await finished_execution(pool, request.execution_id))["status"] == "succeeded"
    assert [step["status"] for step in await steps_of(pool, request.execution_id)] == [
        "succeeded",
        "skipped",
    ]
    assert len(receiver.at("always")) == 1
    assert receiver.at("only-small") == []
