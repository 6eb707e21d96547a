"""The executor's pure rules: resume point, response classes, signatures, ids, records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.executor.domain import (
    RetryPolicy,
    StepOutcome,
    StepRecord,
    classify_response,
    execution_error,
    loggable_url,
    resume_point,
    retry_after_seconds,
    signature_headers,
    webhook_headers,
    webhook_message_id,
    webhook_payload,
)
from services.executor.settings import DEV_WEBHOOK_SIGNING_SECRET
from shared.contracts import CloudEvent, ExecutionRequest, WorkflowDefinition

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def a_request() -> ExecutionRequest:
    event = CloudEvent(
        id="evt-1",
        source="native",
        type="private_offer.accepted",
        time=datetime(2026, 11, 21, 10, tzinfo=UTC),
        tenantid="acme",
        data={"customerName": "Globex", "value": 150000},
    )
    workflow = WorkflowDefinition.model_validate(
        {
            "name": "Notify",
            "trigger": "private_offer.accepted",
            "actions": [{"type": "webhook", "url": "https://hooks.example.com/in"}],
        }
    )
    return ExecutionRequest(
        execution_id="exe_1",
        tenant_id="acme",
        workflow_id="wf-1",
        workflow_version=3,
        workflow=workflow,
        event=event,
    )


@pytest.mark.parametrize(
    ("succeeded", "count", "expected"),
    [
        (set(), 3, 0),
        ({0}, 3, 1),
        ({0, 1}, 3, 2),
        ({0, 1, 2}, 3, 3),
        ({1}, 3, 0),
        (set(), 0, 0),
    ],
)
def test_an_execution_resumes_at_its_first_step_without_success(
    succeeded: set[int], count: int, expected: int
) -> None:
    assert resume_point(succeeded, count) == expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, "success"),
        (202, "success"),
        (204, "success"),
        (408, "transient"),
        (429, "transient"),
        (500, "transient"),
        (503, "transient"),
        (301, "permanent"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (410, "permanent"),
        (422, "permanent"),
    ],
)
def test_responses_are_success_transient_or_permanent(status: int, expected: str) -> None:
    assert classify_response(status) == expected


def test_signature_headers_verify_with_standard_webhooks() -> None:
    payload = webhook_payload(a_request())
    message_id = webhook_message_id("exe_1", 0)
    headers = signature_headers(Webhook(SECRET), message_id, payload, datetime.now(UTC))

    assert headers["webhook-id"] == "exe_1:0"
    assert Webhook(SECRET).verify(payload, headers) == json.loads(payload)
    with pytest.raises(WebhookVerificationError):
        Webhook(DEV_WEBHOOK_SIGNING_SECRET).verify(payload, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(payload.replace("Globex", "Initech"), headers)


def test_an_old_signature_is_rejected_by_receivers() -> None:
    payload = webhook_payload(a_request())
    sent_at = datetime.now(UTC) - timedelta(minutes=10)
    headers = signature_headers(Webhook(SECRET), "exe_1:0", payload, sent_at)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(payload, headers)


def test_the_payload_names_the_execution_and_carries_the_event() -> None:
    body = json.loads(webhook_payload(a_request()))
    assert body["executionId"] == "exe_1"
    assert body["workflowId"] == "wf-1"
    assert body["workflowVersion"] == 3
    assert CloudEvent.model_validate(body["event"]) == a_request().event


def test_user_headers_never_replace_signature_or_framing_headers() -> None:
    signed = {"webhook-id": "exe_1:0", "webhook-timestamp": "1", "webhook-signature": "v1,x"}
    headers = webhook_headers(
        {"X-Api-Key": "k", "Webhook-Signature": "forged", "Content-Type": "text/plain"}, signed
    )
    assert headers == {
        "X-Api-Key": "k",
        "content-type": "application/json",
        "webhook-id": "exe_1:0",
        "webhook-timestamp": "1",
        "webhook-signature": "v1,x",
    }


def test_logged_urls_lose_credentials_and_query() -> None:
    assert (
        loggable_url("https://user:pw@hooks.example.com:8443/in?token=s3cret#x")
        == "https://hooks.example.com:8443/in"
    )
    assert loggable_url("http://[::1]/in") == "http://[::1]/in"


def test_retry_after_is_read_as_seconds_or_a_date() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_seconds("7", now) == 7.0
    assert retry_after_seconds("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_an_execution_fails_with_its_failed_steps_error() -> None:
    now = datetime.now(UTC)
    record = StepRecord(
        tenant_id="acme",
        execution_id="exe_1",
        step_index=2,
        action_type="webhook",
        outcome=StepOutcome.failed("webhook_rejected", "HTTP 400", attempts=1, response_status=400),
        started_at=now,
        finished_at=now,
    )
    assert execution_error(record) == {
        "code": "webhook_rejected",
        "message": "HTTP 400",
        "step": 2,
        "actionType": "webhook",
        "attempts": 1,
        "responseStatus": 400,
    }


def test_the_wait_between_attempts_backs_off_and_honours_retry_after_within_the_cap() -> None:
    policy = RetryPolicy(
        attempts=5, timeout_seconds=60, wait_initial_seconds=0.5, wait_max_seconds=4
    )
    assert [policy.wait_before(n, retry_after=None, jitter=0) for n in (1, 2, 3, 4, 5)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        4.0,
    ]
    assert policy.wait_before(1, retry_after=None, jitter=1) == 1.0
    assert policy.wait_before(1, retry_after=2.5, jitter=1) == 2.5
    assert policy.wait_before(1, retry_after=3600, jitter=0) == 4
