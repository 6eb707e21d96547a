"""The whole pipeline as real processes: API → ingest → matcher → executor → a webhook endpoint."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import aiohttp
import pytest
from standardwebhooks import Webhook

from shared.postgres import Pool
from tests.e2e.conftest import (
    SIGNING_SECRET,
    Stack,
    WebhookSink,
    call,
    wait_until_the_matcher_knows,
)

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def running(stack: Stack) -> Stack:
    for service in ("config_api", "ingest", "matcher", "executor", "scheduler"):
        stack.start(service)
    await stack.wait_ready(within=90)
    return stack


async def create_active_workflow(stack: Stack, pool: Pool, key: str, url: str) -> dict[str, Any]:
    """Create the workflow and wait until the matcher has applied every changelog record."""
    status, workflow = await call(
        "POST",
        stack.url("config_api", "/api/workflows"),
        key,
        {
            "name": "Offer accepted → webhook",
            "trigger": "private_offer.accepted",
            "actions": [{"type": "webhook", "url": url}],
            "active": True,
        },
    )
    assert status == 201, workflow
    await wait_until_the_matcher_knows(stack, pool, workflow)
    return workflow


async def test_an_event_for_an_api_created_workflow_reaches_the_webhook(
    running: Stack, pool: Pool, api_key: str, tenant_id: str, webhook_sink: WebhookSink
) -> None:
    workflow = await create_active_workflow(running, pool, api_key, webhook_sink.url)

    event = {
        "type": "private_offer.accepted",
        "id": "offer-123-accepted",
        "data": {"customerName": "Globex", "value": 150000},
    }
    status, accepted = await call("POST", running.url("ingest", "/v1/events"), api_key, event)
    assert status == 202, accepted

    await webhook_sink.wait_for(1)
    [body], [headers] = webhook_sink.received, webhook_sink.headers
    assert body["workflowId"] == workflow["id"]
    assert body["event"]["id"] == "offer-123-accepted"
    assert body["event"]["tenantid"] == tenant_id
    assert body["event"]["data"] == {"customerName": "Globex", "value": 150000}
    Webhook(SIGNING_SECRET).verify(webhook_sink.raw[0], headers)  # raises if the signature is wrong
    assert headers["webhook-id"] == f"{body['executionId']}:0"
    async with asyncio.timeout(10):
        while (
            row := await pool.fetchrow(
                "SELECT status FROM executions WHERE id = $1", body["executionId"]
            )
        ) is None or row["status"] == "running":
            await asyncio.sleep(0.05)
    assert row["status"] == "succeeded"


async def test_a_post_to_a_workflows_hook_runs_its_webhook_action(
    running: Stack, pool: Pool, api_key: str, tenant_id: str, webhook_sink: WebhookSink
) -> None:
    status, workflow = await call(
        "POST",
        running.url("config_api", "/api/workflows"),
        api_key,
        {
            "name": "Form submission → webhook",
            "trigger": "webhook.received",
            "conditions": {
                "logic": "AND",
                "rules": [{"field": "plan", "operator": "equals", "value": "pro"}],
            },
            "actions": [{"type": "webhook", "url": webhook_sink.url}],
            "active": True,
        },
    )
    assert status == 201, workflow
    status, hook = await call(
        "POST",
        running.url("config_api", f"/api/workflows/{workflow['id']}/hook-token"),
        api_key,
        None,
    )
    assert status == 201, hook
    await wait_until_the_matcher_knows(running, pool, workflow)

    async with (
        aiohttp.ClientSession() as http,
        http.post(
            running.url("ingest", hook["path"]),
            data="customerName=Globex&plan=pro",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ) as response,
    ):
        assert response.status == 202, await response.text()

    await webhook_sink.wait_for(1)
    [body] = webhook_sink.received
    assert body["workflowId"] == workflow["id"]
    assert (body["event"]["type"], body["event"]["subject"], body["event"]["tenantid"]) == (
        "webhook.received",
        workflow["id"],
        tenant_id,
    )
    assert body["event"]["data"] == {"customerName": "Globex", "plan": "pro"}


async def test_sigterm_mid_stream_loses_nothing(
    running: Stack, pool: Pool, api_key: str, webhook_sink: WebhookSink
) -> None:
    await create_active_workflow(running, pool, api_key, webhook_sink.url)
    total = 150

    async def produce() -> None:
        for start in range(0, total, 10):
            batch = [
                {"type": "private_offer.accepted", "id": f"burst-{n}", "data": {"n": n}}
                for n in range(start, start + 10)
            ]
            status, body = await call("POST", running.url("ingest", "/v1/events"), api_key, batch)
            assert status == 202, body
            await asyncio.sleep(0.05)

    producing = asyncio.create_task(produce())
    await webhook_sink.wait_for(10)
    assert running.stop("executor", signal.SIGTERM) == 0
    assert running.stop("matcher", signal.SIGTERM) == 0
    await producing
    running.start("matcher")
    running.start("executor")
    await running.wait_ready("matcher", "executor", within=90)

    await webhook_sink.wait_for(total, within=90)
    delivered = {body["event"]["id"] for body in webhook_sink.received}
    assert delivered == {f"burst-{n}" for n in range(total)}
