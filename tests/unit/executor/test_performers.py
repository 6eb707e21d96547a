"""How each performer reads its destination's answers, and the pure rules behind product records,
chained events and e-mail, without any network."""

from __future__ import annotations

import json
from typing import Any

import pytest
from multidict import CIMultiDict

from services.executor.adapters.email import compose, html_from_text, message_id, one_line
from services.executor.adapters.hubspot import hubspot_outcome
from services.executor.adapters.outbound import HttpAnswer, http_outcome
from services.executor.adapters.salesforce import salesforce_outcome
from services.executor.adapters.slack import slack_outcome
from services.executor.adapters.teams import teams_outcome
from services.executor.domain import (
    chained_event,
    offer_terms,
    resolve_assignee,
    stable_id,
)
from shared.contracts import CloudEvent, ExecutionRequest, WorkflowDefinition


def answer(status: int, body: Any = None, **headers: str) -> HttpAnswer:
    raw = (
        body.encode()
        if isinstance(body, str)
        else json.dumps(body).encode()
        if body is not None
        else b""
    )
    return HttpAnswer(status, CIMultiDict(headers), raw)


@pytest.mark.parametrize(
    ("reply", "status", "transient"),
    [
        (answer(200, {"ok": True, "channel": "C1", "ts": "1.2"}), "succeeded", False),
        (answer(200, {"ok": False, "error": "channel_not_found"}), "failed", False),
        (answer(200, {"ok": False, "error": "internal_error"}), "failed", True),
        (
            answer(429, {"ok": False, "error": "ratelimited"}, **{"Retry-After": "3"}),
            "failed",
            True,
        ),
        (answer(200, "<html>proxy</html>"), "failed", False),
        (answer(502, "<html>bad gateway</html>"), "failed", True),
    ],
)
def test_slack_answers(reply: HttpAnswer, status: str, transient: bool) -> None:
    outcome = slack_outcome(reply)
    assert (outcome.status, outcome.transient) == (status, transient)


def test_slack_keeps_the_ts_and_its_retry_after() -> None:
    assert slack_outcome(answer(200, {"ok": True, "channel": "C1", "ts": "1.2"})).result == {
        "channel": "C1",
        "ts": "1.2",
    }
    assert (
        slack_outcome(
            answer(429, {"ok": False, "error": "ratelimited"}, **{"retry-after": "3"})
        ).retry_after
        == 3.0
    )


def test_salesforce_answers() -> None:
    created = salesforce_outcome(
        answer(201, {"id": "006000000000001AAA", "success": True, "errors": []}),
        sobject="Opportunity",
        record_id=None,
    )
    assert created.result == {"object": "Opportunity", "id": "006000000000001AAA"}
    updated = salesforce_outcome(answer(204), sobject="Opportunity", record_id="006000000000001AAA")
    assert updated.result["id"] == "006000000000001AAA"
    refused = salesforce_outcome(
        answer(400, [{"message": "bad value", "errorCode": "INVALID_FIELD", "fields": ["Amount"]}]),
        sobject="Opportunity",
        record_id=None,
    )
    assert refused.error is not None
    assert (
        refused.error.message
        == "Salesforce refused the Opportunity: INVALID_FIELD: bad value (fields: Amount)"
    )
    assert not refused.transient
    locked = salesforce_outcome(
        answer(400, [{"message": "x", "errorCode": "UNABLE_TO_LOCK_ROW"}]),
        sobject="Account",
        record_id=None,
    )
    assert locked.transient
    assert (
        salesforce_outcome(
            answer(201, {"success": False}), sobject="Account", record_id=None
        ).status
        == "failed"
    )


def test_hubspot_answers() -> None:
    assert hubspot_outcome(
        answer(201, {"id": "512", "properties": {}}), object_type="deals"
    ).result == {"object": "deals", "id": "512"}
    conflict = hubspot_outcome(
        answer(
            409,
            {
                "status": "error",
                "message": "Contact already exists. Existing ID: 7",
                "correlationId": "c-1",
                "category": "CONFLICT",
            },
        ),
        object_type="contacts",
    )
    assert conflict.error is not None
    assert (
        conflict.error.message
        == "HubSpot refused the contacts: CONFLICT: Contact already exists. Existing ID: 7 (correlationId c-1)"
    )
    limited = hubspot_outcome(
        answer(429, {"status": "error", "message": "slow down", "category": "RATE_LIMITS"}),
        object_type="deals",
    )
    assert limited.transient
    assert hubspot_outcome(answer(500, "oops"), object_type="deals").transient


def test_teams_answers() -> None:
    assert teams_outcome(answer(200, "1")).status == "succeeded"
    assert teams_outcome(answer(202)).status == "succeeded"
    undelivered = teams_outcome(
        answer(
            200,
            "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413 with ContextId x",
        )
    )
    assert (undelivered.status, undelivered.transient) == ("failed", False)
    assert teams_outcome(answer(200, "... returned HTTP error 429 ...")).transient
    assert teams_outcome(answer(400, "Summary or Text is required.")).status == "failed"


def test_plain_http_keeps_the_start_of_an_error_body() -> None:
    outcome = http_outcome(answer(404, "no such thing"), code="api_rejected")
    assert outcome.error is not None
    assert outcome.error.message == "HTTP 404: no such thing"
    assert http_outcome(answer(408), code="x").transient


@pytest.mark.parametrize(
    ("reference", "data", "assignee"),
    [
        ("account_owner", {"accountOwnerEmail": "o@acme.test"}, "o@acme.test"),
        ("account_owner", {}, "role:account_owner"),
        ("customer_success", {"accountOwnerEmail": "o@acme.test"}, "role:customer_success"),
        ("jdoe", {}, "jdoe"),
        ("pat@acme.test", {}, "pat@acme.test"),
    ],
)
def test_who_assign_to_names(reference: str, data: dict[str, Any], assignee: str) -> None:
    assert resolve_assignee(reference, data) == assignee


def test_a_draft_offer_takes_the_contract_and_the_adjustments() -> None:
    data = {
        "contractId": "ctr-1",
        "offerId": "off-1",
        "value": 1000,
        "duration": 24,
        "customerName": "Globex",
    }
    renewal = offer_terms("current_contract", {"duration": 12, "discount": 15}, None, data)
    assert (renewal.source_id, renewal.duration_months, renewal.value, renewal.name) == (
        "ctr-1",
        12,
        850.0,
        "Renewal - Globex",
    )
    copy = offer_terms("current_offer", {}, "Same again", data)
    assert (copy.source_id, copy.duration_months, copy.discount_percent, copy.value) == (
        "off-1",
        24,
        0.0,
        1000.0,
    )
    unknown = offer_terms("current_contract", {}, None, {"value": "a lot"})
    assert (unknown.source_id, unknown.base_value, unknown.value) == (None, None, None)


def test_ids_derive_from_their_parts_alone() -> None:
    assert stable_id("task", "exe_1", 2, 0) == stable_id("task", "exe_1", 2, 0)
    assert stable_id("task", "exe_1", 2, 0) != stable_id("task", "exe_1", 2, 1)
    assert stable_id("task", "exe_1", 2, 0).startswith("task_")


def a_request(chaindepth: int | None) -> ExecutionRequest:
    event = CloudEvent(
        id="e1",
        source="native",
        type="private_offer.accepted",
        tenantid="acme",
        data={"v": 1},
        chaindepth=chaindepth,
    )
    workflow = WorkflowDefinition.model_validate(
        {
            "name": "w",
            "trigger": "private_offer.accepted",
            "actions": [{"type": "trigger_workflow", "workflowId": "wf_b"}],
        }
    )
    return ExecutionRequest(
        execution_id="exe_1",
        tenant_id="acme",
        workflow_id="wf_a",
        workflow_version=1,
        workflow=workflow,
        event=event,
    )


def test_a_chained_event_targets_the_workflow_and_counts_the_hops() -> None:
    event = chained_event(a_request(None), 0, "wf_b", pass_data=True)
    assert (event.id, event.type, event.subject, event.chaindepth, event.data) == (
        "chain:exe_1:0",
        "workflow.triggered",
        "wf_b",
        1,
        {"v": 1},
    )
    assert chained_event(a_request(4), 0, "wf_b", pass_data=False).chaindepth == 5
    assert chained_event(a_request(4), 0, "wf_b", pass_data=False).data == {}


def test_email_pieces() -> None:
    assert html_from_text("a & b\nc\n\nd") == "<p>a &amp; b<br>c</p><p>d</p>"
    assert one_line("Subject\r\nBcc: all@x.test") == "Subject Bcc: all@x.test"
    assert message_id("exe_1", 2, "Workflows <w@acme.test>") == "<exe_1.2@acme.test>"
    message = compose(
        sender="w@acme.test",
        recipients=["a@x.test"],
        subject="s\nBcc: b@x.test",
        text="t",
        html="<p>t</p>",
        message_id="<m@x>",
    )
    assert message["Subject"] == "s Bcc: b@x.test"
    assert message["Bcc"] is None
    assert [part.get_content_type() for part in message.iter_parts()] == ["text/plain", "text/html"]
