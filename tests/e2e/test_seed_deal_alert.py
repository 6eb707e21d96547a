"""Seed 000's High-Value Deal Alert, created from its JSON through the API and driven by an event
through the real processes: the Slack message, the e-mail, the Salesforce Opportunity, and every
step in the execution history."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from services.config_api.adapters.postgres import install_example_templates
from shared.postgres import Pool
from shared.testing.providers import ProviderFakes
from shared.testing.smtp import SmtpSink
from tests.e2e.conftest import Stack, call, wait_until_the_matcher_knows

pytestmark = pytest.mark.e2e

SEED_WORKFLOWS = Path(__file__).parents[2] / "deploy" / "local" / "seed_workflows.json"


@pytest.fixture(scope="module")
async def providers() -> AsyncIterator[tuple[ProviderFakes, SmtpSink]]:
    fakes, smtp = ProviderFakes(), SmtpSink()
    await fakes.start()
    await smtp.start()
    try:
        yield fakes, smtp
    finally:
        await smtp.stop()
        await fakes.stop()


@pytest.fixture(scope="module")
async def running(stack: Stack, providers: tuple[ProviderFakes, SmtpSink]) -> Stack:
    fakes, smtp = providers
    stack.env.update(
        {
            **fakes.urls,
            "SMTP_HOST": smtp.host,
            "SMTP_PORT": str(smtp.port),
            "EMAIL_FROM": "Workflows <workflows@acme.test>",
        }
    )
    for service in ("config_api", "ingest", "matcher", "executor"):
        stack.start(service)
    await stack.wait_ready(within=90)
    return stack


def seed_workflow(name: str) -> dict[str, Any]:
    workflows: list[dict[str, Any]] = json.loads(SEED_WORKFLOWS.read_text())
    return next(workflow for workflow in workflows if workflow["name"] == name)


async def test_the_high_value_deal_alert_posts_emails_creates_the_opportunity_and_shows_each_step(
    running: Stack,
    providers: tuple[ProviderFakes, SmtpSink],
    pool: Pool,
    api_key: str,
    tenant_id: str,
) -> None:
    fakes, smtp = providers
    await install_example_templates(pool, tenant_id)
    status, workflow = await call(
        "POST",
        running.url("config_api", "/api/workflows"),
        api_key,
        {**seed_workflow("High-Value Deal Alert"), "active": True},
    )
    assert status == 201, workflow
    await wait_until_the_matcher_knows(running, pool, workflow)

    events = [
        {
            "type": "private_offer.accepted",
            "id": "offer-globex-accepted",
            "subject": "offer-globex",
            "data": {
                "customerName": "Globex",
                "value": 150000,
                "vendor": "aws",
                "productName": "DataPipe",
                "offerName": "Globex annual",
                "marketplace": "aws",
                "duration": 12,
            },
        },
        # Below the workflow's threshold: nothing runs for it.
        {
            "type": "private_offer.accepted",
            "id": "offer-initech-accepted",
            "data": {"customerName": "Initech", "value": 5000, "vendor": "aws"},
        },
    ]
    status, accepted = await call("POST", running.url("ingest", "/v1/events"), api_key, events)
    assert status == 202, accepted

    [slack] = await fakes.wait_for("slack", 1)
    assert slack.body == {"channel": "#sales-wins", "text": "🎉 Big Win! Globex - $150000"}
    [mail] = await smtp.wait_for(1)
    assert mail.recipients == ["sales-leadership@company.com"]
    assert mail.message["Subject"] == "Big win: Globex accepted a $150000 deal"
    assert "requiring executive approval" in mail.body("plain")
    assert "<strong>Globex</strong>" in mail.body("html")
    [salesforce] = await fakes.wait_for("salesforce", 1)
    assert salesforce.path == "/salesforce/services/data/v62.0/sobjects/Opportunity/"
    assert salesforce.body == {
        "Name": "Globex - DataPipe",
        "Amount": 150000,
        "StageName": "Closed Won",
    }

    history = running.url("config_api", f"/api/workflows/{workflow['id']}/executions")
    async with asyncio.timeout(30):
        while True:
            status, page = await call("GET", history, api_key, None)
            assert status == 200, page
            if page["items"] and page["items"][0]["status"] != "running":
                break
    [execution] = page["items"]
    assert execution["status"] == "succeeded", execution
    assert execution["event"]["id"] == "offer-globex-accepted"
    status, detail = await call(
        "GET", running.url("config_api", f"/api/executions/{execution['id']}"), api_key, None
    )
    assert status == 200, detail
    steps = detail["steps"]
    assert [(s["actionType"], s["status"], s["attempts"]) for s in steps] == [
        ("slack", "succeeded", 1),
        ("email", "succeeded", 1),
        ("salesforce_create", "succeeded", 1),
    ]
    assert steps[0]["result"]["ts"]
    assert steps[1]["result"]["messageId"] == mail.message["Message-ID"]
    opportunity = steps[2]["result"]["id"]
    assert fakes.salesforce_records[("Opportunity", opportunity)]["StageName"] == "Closed Won"
    assert steps[2]["request"]["fields"]["Amount"] == 150000
    assert len(fakes.received("slack")) == 1, "the event under the threshold ran nothing"
