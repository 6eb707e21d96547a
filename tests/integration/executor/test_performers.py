"""Each HTTP performer, one attempt at a time, against local servers that answer as the provider
does (shared.testing.providers): what is sent, and what each kind of answer means."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import SecretStr

from services.executor.adapters.call_api import ApiCaller
from services.executor.adapters.hubspot import HubSpotClient
from services.executor.adapters.outbound import OutboundHttp
from services.executor.adapters.salesforce import SalesforceClient
from services.executor.adapters.slack import SlackPoster
from services.executor.adapters.teams import TeamsPoster
from services.executor.domain import StepOutcome
from services.executor.settings import (
    HubSpotSettings,
    SalesforceSettings,
    SlackSettings,
    TeamsSettings,
    WebhookSettings,
)
from shared.contracts import ExecutionRequest
from shared.testing.providers import (
    ProviderFakes,
    hubspot_error,
    plain,
    salesforce_errors,
    slack_ratelimited,
    teams_undelivered,
)
from tests.integration.executor.conftest import SIGNING_SECRET, provider_settings, request_for

pytestmark = pytest.mark.integration

SEED_OPPORTUNITY = {
    "type": "salesforce_create",
    "object": "Opportunity",
    "mapping": {
        "Name": "{{customerName}} - {{productName}}",
        "Amount": "{{value}}",
        "StageName": "Closed Won",
    },
}


def failed_with(outcome: StepOutcome, code: str) -> str:
    assert outcome.status == "failed", outcome
    assert outcome.error is not None
    assert outcome.error.code == code, outcome.error
    return outcome.error.message


def one(tenant_id: str, action: dict[str, Any], **kwargs: Any) -> ExecutionRequest:
    return request_for(tenant_id, [action], **kwargs)


# --- Slack -----------------------------------------------------------------------------------------


def slack(fakes: ProviderFakes, http: OutboundHttp) -> SlackPoster:
    settings: SlackSettings = provider_settings(fakes)["slack"]
    return SlackPoster(settings, http)


async def test_slack_posts_the_rendered_message_with_the_bot_token_and_keeps_its_ts(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    request = one(
        tenant_id,
        {
            "type": "slack",
            "channel": "#sales-wins",
            "message": "🎉 Big Win! {{customerName}} - ${{value}} <!here>",
        },
        data={"customerName": "<Globex & Co>", "value": 150000},
    )
    outcome = await slack(fakes, http).perform(request, 0, request.workflow.actions[0])

    assert outcome.status == "succeeded", outcome
    [sent] = fakes.received("slack")
    # The author's own mrkdwn (<!here>) is kept; what the data put in is escaped.
    assert sent.body == {
        "channel": "#sales-wins",
        "text": "🎉 Big Win! &lt;Globex &amp; Co&gt; - $150000 <!here>",
    }
    assert sent.headers["Authorization"] == "(redacted)"  # the fake saw a bearer token
    assert sent.headers["Idempotency-Key"] == f"{request.execution_id}:0"
    assert outcome.result["ts"]
    assert outcome.destination == "slack"
    assert outcome.request == {"channel": "#sales-wins", "text": sent.body["text"]}
    assert fakes.token not in json.dumps(outcome.request)


async def test_slack_ok_false_is_a_failure_with_slacks_error_not_a_success(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    fakes.slack_channels = {"#sales-wins"}
    request = one(tenant_id, {"type": "slack", "channel": "#nowhere", "message": "hi"})
    outcome = await slack(fakes, http).perform(request, 0, request.workflow.actions[0])

    assert "channel_not_found" in failed_with(outcome, "slack_error")
    assert outcome.response_status == 200
    assert not outcome.transient


async def test_slack_ratelimited_is_transient_with_its_retry_after(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    fakes.answer_next("slack", slack_ratelimited(retry_after=7))
    request = one(tenant_id, {"type": "slack", "channel": "#sales-wins", "message": "hi"})
    outcome = await slack(fakes, http).perform(request, 0, request.workflow.actions[0])

    assert "ratelimited" in failed_with(outcome, "slack_error")
    assert (outcome.transient, outcome.retry_after, outcome.response_status) == (True, 7.0, 429)
    assert outcome.destination == "slack"


async def test_slack_with_a_wrong_token_or_none_configured(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    request = one(tenant_id, {"type": "slack", "channel": "#sales-wins", "message": "hi"})
    action = request.workflow.actions[0]
    wrong = SlackPoster(
        SlackSettings(api_url=fakes.urls["SLACK_API_URL"], bot_token=SecretStr("xoxb-wrong")), http
    )
    assert "invalid_auth" in failed_with(await wrong.perform(request, 0, action), "slack_error")

    unset = SlackPoster(SlackSettings(api_url=fakes.urls["SLACK_API_URL"]), http)
    outcome = await unset.perform(request, 0, action)
    assert "SLACK_BOT_TOKEN" in failed_with(outcome, "not_configured")
    assert outcome.attempts == 0
    assert len(fakes.received("slack")) == 1


# --- Salesforce ------------------------------------------------------------------------------------


def salesforce(
    fakes: ProviderFakes, http: OutboundHttp, token: str | None = None
) -> SalesforceClient:
    settings = SalesforceSettings(
        instance_url=fakes.urls["SALESFORCE_INSTANCE_URL"],
        access_token=SecretStr(token or fakes.token),
    )
    return SalesforceClient(settings, http)


async def test_salesforce_create_sends_typed_values_and_keeps_the_new_records_id(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    request = one(tenant_id, SEED_OPPORTUNITY)
    outcome = await salesforce(fakes, http).perform(request, 0, request.workflow.actions[0])

    assert outcome.status == "succeeded", outcome
    [sent] = fakes.received("salesforce")
    assert (sent.method, sent.path) == (
        "POST",
        "/salesforce/services/data/v62.0/sobjects/Opportunity/",
    )
    assert sent.body == {"Name": "Globex - DataPipe", "Amount": 150000, "StageName": "Closed Won"}
    record_id = outcome.result["id"]
    assert outcome.result == {"object": "Opportunity", "id": record_id}
    assert fakes.salesforce_records[("Opportunity", record_id)]["Amount"] == 150000
    assert (outcome.response_status, outcome.destination) == (201, "salesforce")


async def test_salesforce_update_patches_the_record(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    created = one(tenant_id, SEED_OPPORTUNITY)
    record_id = (
        await salesforce(fakes, http).perform(created, 0, created.workflow.actions[0])
    ).result["id"]
    update = one(
        tenant_id,
        {
            "type": "salesforce_update",
            "object": "Opportunity",
            "recordId": "{{opportunityId}}",
            "mapping": {"Amount": "{{value}}"},
        },
        data={"opportunityId": record_id, "value": 175000.5},
    )
    outcome = await salesforce(fakes, http).perform(update, 0, update.workflow.actions[0])

    assert outcome.status == "succeeded", outcome
    assert (outcome.response_status, outcome.result["id"]) == (204, record_id)
    assert fakes.salesforce_records[("Opportunity", record_id)]["Amount"] == 175000.5


async def test_salesforce_error_arrays_and_an_invalid_session_fail_for_good(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    fakes.salesforce_required = {"Opportunity": ["Name", "StageName", "CloseDate"]}
    request = one(tenant_id, SEED_OPPORTUNITY)
    action = request.workflow.actions[0]
    refused = await salesforce(fakes, http).perform(request, 0, action)
    message = failed_with(refused, "salesforce_error")
    assert "REQUIRED_FIELD_MISSING" in message
    assert "CloseDate" in message
    assert (refused.response_status, refused.transient) == (400, False)

    expired = await salesforce(fakes, http, token="00Dexpired").perform(request, 0, action)
    assert "INVALID_SESSION_ID: Session expired or invalid" in failed_with(
        expired, "salesforce_error"
    )
    assert (expired.response_status, expired.transient) == (401, False)


async def test_salesforce_row_lock_and_5xx_are_transient_and_a_bad_record_id_is_not_sent(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    fakes.answer_next(
        "salesforce",
        salesforce_errors(400, ("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access", [])),
        plain(503, "Service Unavailable"),
    )
    request = one(tenant_id, SEED_OPPORTUNITY)
    for _ in range(2):
        outcome = await salesforce(fakes, http).perform(request, 0, request.workflow.actions[0])
        failed_with(outcome, "salesforce_error")
        assert outcome.transient

    bad = one(
        tenant_id,
        {
            "type": "salesforce_update",
            "object": "Opportunity",
            "recordId": "{{id}}",
            "mapping": {"StageName": "x"},
        },
        data={"id": "../../Account/001"},
    )
    outcome = await salesforce(fakes, http).perform(bad, 0, bad.workflow.actions[0])
    failed_with(outcome, "invalid_record_id")
    assert outcome.attempts == 0
    assert len(fakes.received("salesforce")) == 2


# --- HubSpot ---------------------------------------------------------------------------------------


def hubspot(fakes: ProviderFakes, http: OutboundHttp) -> HubSpotClient:
    settings = HubSpotSettings(
        api_url=fakes.urls["HUBSPOT_API_URL"], access_token=SecretStr(fakes.token)
    )
    return HubSpotClient(settings, http)


async def test_hubspot_create_then_update_and_a_duplicate_contact_is_a_409(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    create = one(
        tenant_id,
        {
            "type": "hubspot_create",
            "object": "contacts",
            "mapping": {
                "email": "{{customerEmail}}",
                "company": "{{customerName}}",
                "hs_lead_score": "{{score}}",
            },
        },
        data={"customerEmail": "buyer@globex.test", "customerName": "Globex", "score": 42},
    )
    created = await hubspot(fakes, http).perform(create, 0, create.workflow.actions[0])
    assert created.status == "succeeded", created
    contact = created.result["id"]
    assert created.result == {"object": "contacts", "id": contact}
    [sent] = fakes.received("hubspot")
    assert (sent.method, sent.path) == ("POST", "/hubspot/crm/v3/objects/contacts")
    assert sent.body == {
        "properties": {"email": "buyer@globex.test", "company": "Globex", "hs_lead_score": 42}
    }

    again = await hubspot(fakes, http).perform(create, 0, create.workflow.actions[0])
    message = failed_with(again, "hubspot_error")
    assert f"CONFLICT: Contact already exists. Existing ID: {contact}" in message
    assert "correlationId" in message
    assert (again.response_status, again.transient) == (409, False)

    update = one(
        tenant_id,
        {
            "type": "hubspot_update",
            "object": "contacts",
            "recordId": contact,
            "mapping": {"lifecyclestage": "customer"},
        },
    )
    updated = await hubspot(fakes, http).perform(update, 0, update.workflow.actions[0])
    assert (updated.status, updated.response_status, updated.result["id"]) == (
        "succeeded",
        200,
        contact,
    )
    assert fakes.hubspot_objects[("contacts", contact)]["lifecyclestage"] == "customer"


async def test_hubspot_rate_limits_are_transient_and_validation_errors_are_not(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    fakes.answer_next(
        "hubspot",
        hubspot_error(429, "RATE_LIMITS", "You have reached your secondly limit."),
        hubspot_error(400, "VALIDATION_ERROR", "Property values were not valid"),
    )
    request = one(
        tenant_id, {"type": "hubspot_create", "object": "deals", "mapping": {"dealname": "x"}}
    )
    limited = await hubspot(fakes, http).perform(request, 0, request.workflow.actions[0])
    assert "RATE_LIMITS" in failed_with(limited, "hubspot_error")
    assert (limited.transient, limited.retry_after, limited.destination) == (True, 1.0, "hubspot")
    invalid = await hubspot(fakes, http).perform(request, 0, request.workflow.actions[0])
    assert "VALIDATION_ERROR: Property values were not valid" in failed_with(
        invalid, "hubspot_error"
    )
    assert not invalid.transient


# --- Teams and call_api ----------------------------------------------------------------------------


async def test_teams_posts_an_adaptive_card_and_reads_a_200_that_says_undelivered_as_a_failure(
    fakes: ProviderFakes, http: OutboundHttp, tenant_id: str
) -> None:
    teams = TeamsPoster(TeamsSettings(webhook_url=SecretStr(fakes.urls["TEAMS_WEBHOOK_URL"])), http)
    request = one(
        tenant_id, {"type": "teams", "title": "Big win", "message": "{{customerName}} signed"}
    )
    action = request.workflow.actions[0]

    outcome = await teams.perform(request, 0, action)
    assert outcome.status == "succeeded", outcome
    [sent] = fakes.received("teams")
    card = sent.body["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert [block["text"] for block in card["content"]["body"]] == ["Big win", "Globex signed"]
    # The webhook's path is its credential: the step log names only where it went.
    assert outcome.request["webhook"] == fakes.base_url
    assert "incoming" not in json.dumps(outcome.request)

    fakes.answer_next("teams", teams_undelivered(429))
    throttled = await teams.perform(request, 0, action)
    assert "returned HTTP error 429" in failed_with(throttled, "teams_error")
    assert throttled.transient

    unset = await TeamsPoster(TeamsSettings(), http).perform(request, 0, action)
    failed_with(unset, "not_configured")


async def test_call_api_sends_the_rendered_request_and_keeps_the_answer_capped(
    fakes: ProviderFakes, tenant_id: str
) -> None:
    small = OutboundHttp(
        WebhookSettings(
            signing_secret=SecretStr(SIGNING_SECRET),
            allow_private_networks=True,
            response_max_bytes=1024,
        )
    )
    await small.start()
    try:
        fakes.answer_next("webhook", plain(500, "busy"), plain(200, "x" * 5000))
        request = one(
            tenant_id,
            {
                "type": "call_api",
                "url": fakes.webhook_url("crm/customers"),
                "method": "PUT",
                "headers": {"X-Api-Key": "k-{{vendor}}"},
                "body": {"name": "{{customerName}}", "value": "{{value}}", "tags": ["{{vendor}}"]},
            },
        )
        action = request.workflow.actions[0]
        first = await ApiCaller(small).perform(request, 3, action)
        second = await ApiCaller(small).perform(request, 3, action)
    finally:
        await small.close()

    assert "HTTP 500: busy" in failed_with(first, "api_rejected")
    assert first.transient
    assert second.status == "succeeded", second
    assert second.result["status"] == 200
    assert second.result["body"] == "x" * 1024 + "…"
    sent = fakes.received("webhook")
    assert {s.headers["Idempotency-Key"] for s in sent} == {f"{request.execution_id}:3"}
    assert sent[0].method == "PUT"
    assert sent[0].headers["X-Api-Key"] == "k-aws"
    assert sent[0].body == {"name": "Globex", "value": 150000, "tags": ["aws"]}
    # Header values and the body stay out of the step log: API keys travel there.
    assert second.request["headers"] == ["X-Api-Key"]
    assert "k-aws" not in json.dumps(second.request)
