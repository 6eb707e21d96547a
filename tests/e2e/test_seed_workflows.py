"""Seed 000's four example workflows, created through the API from the seed's JSON (verbatim) and
driven by events through the five services as real processes: every action observed at a local
peer speaking the provider's protocol (Slack's Web API, SMTP, Salesforce's REST API), or in the
product's tables through the config API, and every step in the execution history.

One stack, one tenant and the four workflows (active) serve the whole module. The renewal reminder
is driven by what really produces its event: a ``contract.created`` with an end date 90 days ahead,
learned by the scheduler, whose contract scan (``SCHEDULER_CONTRACT_SCAN_SECONDS``, short here)
emits ``contract.expiring`` with ``daysUntilExpiry: 90``.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from services.config_api.adapters.postgres import install_example_templates
from services.scheduler.domain import contract_event_id
from shared import tenancy
from shared.postgres import Pool
from shared.testing.providers import ProviderFakes, Sent
from shared.testing.smtp import ReceivedMail, SmtpSink
from tests.e2e.conftest import Stack, call, wait_until_the_matcher_knows
from tests.unit.workflows.test_seed_examples import WORKFLOWS as SEED_000_WORKFLOWS

pytestmark = pytest.mark.e2e

MAKE_RUN_SEED = Path(__file__).parents[2] / "deploy" / "local" / "seed_workflows.json"
T = TypeVar("T")


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
            # A contract learned with 90 days left gets its event within a scan.
            "SCHEDULER_CONTRACT_SCAN_SECONDS": "1",
        }
    )
    for service in ("config_api", "ingest", "matcher", "executor", "scheduler"):
        stack.start(service)
    await stack.wait_ready(within=120)
    return stack


@pytest.fixture(scope="module")
async def seed_tenant(pool: Pool) -> tuple[str, str]:
    """A tenant of the module's own (UTC days) with seed 000's e-mail templates; (id, API key)."""
    tenant_id = f"seed-{uuid.uuid4().hex[:8]}"
    await tenancy.create_tenant(pool, tenant_id)
    await install_example_templates(pool, tenant_id)
    return tenant_id, await tenancy.create_api_key(pool, tenant_id)


@pytest.fixture(scope="module")
async def workflows(
    running: Stack, pool: Pool, seed_tenant: tuple[str, str]
) -> dict[str, dict[str, Any]]:
    """Seed 000's four workflows, each posted as the seed writes it and switched on, by name."""
    _, key = seed_tenant
    created = {}
    for text in SEED_000_WORKFLOWS:
        status, workflow = await call(
            "POST",
            running.url("config_api", "/api/workflows"),
            key,
            {**json.loads(text), "active": True},
        )
        assert status == 201, workflow
        created[workflow["name"]] = workflow
    for workflow in created.values():
        await wait_until_the_matcher_knows(running, pool, workflow)
    return created


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str, within: float = 60) -> T:
    """``probe()``'s first truthy answer, polled; fails naming ``what`` after ``within`` s."""
    try:
        async with asyncio.timeout(within):
            while not (found := await probe()):
                await asyncio.sleep(0.1)
            return found
    except TimeoutError:
        raise AssertionError(f"not seen within {within}s: {what}") from None


async def slack_posts(fakes: ProviderFakes, channel: str, count: int = 1) -> list[Sent]:
    async def posted() -> list[Sent] | None:
        found = [s for s in fakes.received("slack") if s.body.get("channel") == channel]
        return found if len(found) >= count else None

    return await eventually(posted, f"{count} Slack post(s) to {channel}")


async def mails_to(smtp: SmtpSink, address: str, count: int = 1) -> list[ReceivedMail]:
    async def sent() -> list[ReceivedMail] | None:
        found = [m for m in smtp.messages if address in m.recipients]
        return found if len(found) >= count else None

    return await eventually(sent, f"{count} e-mail(s) to {address}")


async def finished_execution(
    stack: Stack, key: str, workflow: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The workflow's history once its newest execution has finished, and that execution with
    its steps."""
    history = stack.url("config_api", f"/api/workflows/{workflow['id']}/executions")

    async def finished() -> list[dict[str, Any]] | None:
        status, page = await call("GET", history, key, None)
        assert status == 200, page
        items: list[dict[str, Any]] = page["items"]
        return items if items and items[0]["status"] not in ("running", "waiting") else None

    items = await eventually(finished, f"an execution of {workflow['name']} finished")
    status, detail = await call(
        "GET", stack.url("config_api", f"/api/executions/{items[0]['id']}"), key, None
    )
    assert status == 200, detail
    return items, detail


async def product_records(
    stack: Stack, key: str, resource: str, workflow: dict[str, Any]
) -> list[dict[str, Any]]:
    status, page = await call(
        "GET", stack.url("config_api", f"/api/{resource}?workflowId={workflow['id']}"), key, None
    )
    assert status == 200, page
    return sorted(page["items"], key=lambda item: (item["stepIndex"], item.get("itemIndex", 0)))


def days_ahead(*offsets: int) -> set[str]:
    """Each UTC date ``offset`` days from today, also from yesterday's today (a run that crosses
    midnight UTC sees one or the other)."""
    today = datetime.now(UTC).date()
    return {
        (day + timedelta(days=offset)).isoformat()
        for day in (today, today - timedelta(days=1))
        for offset in offsets
    }


def test_make_run_loads_seed_000s_four_workflows_as_the_seed_writes_them() -> None:
    assert json.loads(MAKE_RUN_SEED.read_text()) == [json.loads(t) for t in SEED_000_WORKFLOWS]


async def test_the_high_value_deal_alert_posts_emails_creates_the_opportunity_and_shows_each_step(
    running: Stack,
    providers: tuple[ProviderFakes, SmtpSink],
    seed_tenant: tuple[str, str],
    workflows: dict[str, dict[str, Any]],
) -> None:
    fakes, smtp = providers
    _, key = seed_tenant
    workflow = workflows["High-Value Deal Alert"]
    globex = {
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
    }
    # Below the threshold, and another vendor: nothing runs for them. They go first, on the
    # tenant's partition, so they are matched before Globex's offer is.
    events = [
        {
            "type": "private_offer.accepted",
            "id": "offer-initech-accepted",
            "data": {"customerName": "Initech", "value": 5000, "vendor": "aws"},
        },
        {
            "type": "private_offer.accepted",
            "id": "offer-umbrella-accepted",
            "data": {"customerName": "Umbrella", "value": 900000, "vendor": "azure"},
        },
        globex,
    ]
    status, accepted = await call("POST", running.url("ingest", "/v1/events"), key, events)
    assert status == 202, accepted

    [slack] = await slack_posts(fakes, "#sales-wins")
    assert slack.body == {"channel": "#sales-wins", "text": "🎉 Big Win! Globex - $150000"}
    [mail] = await mails_to(smtp, "sales-leadership@company.com")
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

    [execution], detail = await finished_execution(running, key, workflow)
    assert execution["status"] == "succeeded", execution
    assert execution["event"]["id"] == "offer-globex-accepted"
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
    assert len(await slack_posts(fakes, "#sales-wins")) == 1, "the other offers ran nothing"


async def test_the_renewal_reminder_runs_when_the_scheduler_finds_a_contract_90_days_from_its_end(
    running: Stack,
    providers: tuple[ProviderFakes, SmtpSink],
    seed_tenant: tuple[str, str],
    workflows: dict[str, dict[str, Any]],
) -> None:
    _, smtp = providers
    tenant_id, key = seed_tenant
    workflow = workflows["90-Day Renewal Reminder"]
    today = datetime.now(UTC).date()
    end = today + timedelta(days=90)

    def contract(contract_id: str, customer: str, ends: date) -> dict[str, Any]:
        return {
            "type": "contract.created",
            "id": f"{contract_id}-created",
            "subject": contract_id,
            "data": {
                "contractId": contract_id,
                "customerName": customer,
                "productName": "DataPipe",
                "accountOwnerEmail": "owner@acme.test",
                "contractStartDate": (ends - timedelta(days=365)).isoformat(),
                "contractEndDate": ends.isoformat(),
                "value": 120000,
                "duration": 12,
            },
        }

    # Hooli's contract has 200 days left: no threshold is due, no reminder.
    events = [
        contract("ctr-hooli", "Hooli", end + timedelta(110)),
        contract("ctr-globex", "Globex", end),
    ]
    status, accepted = await call("POST", running.url("ingest", "/v1/events"), key, events)
    assert status == 202, accepted

    [mail] = await mails_to(smtp, "owner@acme.test")
    assert mail.message["Subject"] == "Renewal in 90 days: Globex"
    assert f"ends on {end.isoformat()} (90 days from now)" in mail.body("plain")
    assert "<strong>ctr-globex</strong>" in mail.body("html")

    [execution], detail = await finished_execution(running, key, workflow)
    assert execution["status"] == "succeeded", execution
    event = execution["event"]
    assert (event["type"], event["source"], event["subject"]) == (
        "contract.expiring",
        "scheduler",
        "ctr-globex",
    )
    assert event["id"] == contract_event_id(tenant_id, "ctr-globex", "expiring:90", end)
    assert event["data"]["daysUntilExpiry"] == 90
    assert [(s["actionType"], s["status"]) for s in detail["steps"]] == [
        ("create_task", "succeeded"),
        ("email", "succeeded"),
        ("create_draft_offer", "succeeded"),
    ]

    [task] = await product_records(running, key, "tasks", workflow)
    assert (task["title"], task["assignee"], task["assignTo"], task["priority"]) == (
        "Renewal conversation: Globex",
        "owner@acme.test",
        "account_owner",
        "high",
    )
    assert task["dueDate"] in days_ahead(7)
    assert (task["executionId"], task["subject"], task["status"]) == (
        execution["id"],
        "ctr-globex",
        "open",
    )
    [offer] = await product_records(running, key, "draft-offers", workflow)
    assert {
        name: offer[name]
        for name in ("basedOn", "sourceId", "customerName", "productName", "durationMonths")
    } == {
        "basedOn": "current_contract",
        "sourceId": "ctr-globex",
        "customerName": "Globex",
        "productName": "DataPipe",
        "durationMonths": 12,
    }
    assert (offer["discountPercent"], offer["baseValue"], offer["value"]) == (0, 120000, 120000)
    assert offer["executionId"] == execution["id"]
    assert [m for m in smtp.messages if "Hooli" in str(m.message["Subject"])] == []


async def test_the_metering_failure_escalation_alerts_engineering_and_opens_an_urgent_task(
    running: Stack,
    providers: tuple[ProviderFakes, SmtpSink],
    seed_tenant: tuple[str, str],
    workflows: dict[str, dict[str, Any]],
) -> None:
    fakes, _ = providers
    _, key = seed_tenant
    workflow = workflows["Metering Failure Escalation"]
    failure = {
        "customerName": "Initech",
        "dimension": "api_calls",
        "errorMessage": "Usage record rejected: timestamp too old",
    }
    events = [
        # Three retries are not more than three: no escalation (matched first, same partition).
        {
            "type": "metering.failed",
            "id": "meter-initech-3",
            "subject": "initech",
            "data": {**failure, "retryCount": 3},
        },
        {
            "type": "metering.failed",
            "id": "meter-initech-5",
            "subject": "initech",
            "data": {**failure, "retryCount": 5},
        },
    ]
    status, accepted = await call("POST", running.url("ingest", "/v1/events"), key, events)
    assert status == 202, accepted

    [slack] = await slack_posts(fakes, "#engineering-alerts")
    assert slack.body == {
        "channel": "#engineering-alerts",
        "text": "🚨 Metering failure: Initech - api_calls\n"
        "Error: Usage record rejected: timestamp too old",
    }
    [execution], detail = await finished_execution(running, key, workflow)
    assert execution["status"] == "succeeded", execution
    assert execution["event"]["id"] == "meter-initech-5"
    assert [(s["actionType"], s["status"]) for s in detail["steps"]] == [
        ("slack", "succeeded"),
        ("create_task", "succeeded"),
    ]
    assert detail["steps"][0]["result"]["ts"]
    [task] = await product_records(running, key, "tasks", workflow)
    assert (task["title"], task["assignee"], task["priority"], task["subject"]) == (
        "URGENT: Fix metering for Initech",
        "role:engineering_lead",
        "urgent",
        "initech",
    )
    assert task["dueDate"] in days_ahead(0)
    assert len(await slack_posts(fakes, "#engineering-alerts")) == 1


async def test_new_customer_onboarding_welcomes_the_customer_opens_three_tasks_and_tells_the_team(
    running: Stack,
    providers: tuple[ProviderFakes, SmtpSink],
    seed_tenant: tuple[str, str],
    workflows: dict[str, dict[str, Any]],
) -> None:
    fakes, smtp = providers
    _, key = seed_tenant
    workflow = workflows["New Customer Onboarding"]
    event = {
        "type": "customer.created",
        "id": "customer-hooli-created",
        "subject": "cust-hooli",
        "data": {
            "customerName": "Hooli",
            "customerEmail": "it@hooli.test",
            "productName": "DataPipe",
            "marketplace": "aws",
        },
    }
    status, accepted = await call("POST", running.url("ingest", "/v1/events"), key, event)
    assert status == 202, accepted

    [mail] = await mails_to(smtp, "it@hooli.test")
    assert mail.message["Subject"] == "Welcome to DataPipe, Hooli!"
    assert "Thank you for subscribing to DataPipe through aws." in mail.body("plain")
    [slack] = await slack_posts(fakes, "#new-customers")
    assert slack.body == {"channel": "#new-customers", "text": "👋 New customer: Hooli"}

    [execution], detail = await finished_execution(running, key, workflow)
    assert execution["status"] == "succeeded", execution
    assert execution["event"]["id"] == "customer-hooli-created"
    steps = detail["steps"]
    assert [(s["actionType"], s["status"]) for s in steps] == [
        ("email", "succeeded"),
        ("create_task_series", "succeeded"),
        ("slack", "succeeded"),
    ]
    assert steps[0]["result"]["messageId"] == mail.message["Message-ID"]
    tasks = await product_records(running, key, "tasks", workflow)
    assert [(t["itemIndex"], t["title"], t["assignee"]) for t in tasks] == [
        (0, "Schedule kickoff call", "role:customer_success"),
        (1, "Send onboarding resources", "role:customer_success"),
        (2, "Check-in call", "role:customer_success"),
    ]
    for task, offset in zip(tasks, (1, 2, 14), strict=True):
        assert task["dueDate"] in days_ahead(offset), task
        assert (task["executionId"], task["subject"]) == (execution["id"], "cust-hooli")
