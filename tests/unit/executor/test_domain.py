"""The executor's pure rules: resume point, response classes, signatures, ids, records."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.executor.domain import (
    REQUEUE_AT_LEAST,
    ExecutionProgress,
    RetryPolicy,
    StepOutcome,
    StepRecord,
    Timer,
    admissions_over_limit,
    classify_response,
    continued_error,
    deferred,
    destination_of,
    execution_error,
    finished_status,
    lease_timer,
    loggable_url,
    queue_due_at,
    queue_slot,
    resume_point,
    retry_after_seconds,
    signature_headers,
    timer_id_for,
    webhook_headers,
    webhook_message_id,
    webhook_payload,
)
from services.executor.settings import DEV_WEBHOOK_SIGNING_SECRET
from shared.contracts import CloudEvent, ExecutionRequest, WorkflowDefinition
from tests.unit.workflows.test_actions import VALID

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


def test_the_wait_between_attempts_backs_off_and_honours_retry_after_within_its_cap() -> None:
    policy = RetryPolicy(
        wait_initial_seconds=0.5,
        wait_max_seconds=4,
        inline_max_seconds=2,
        max_retry_after_seconds=600,
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
    assert policy.wait_before(1, retry_after=30, jitter=0) == 30
    assert policy.wait_before(1, retry_after=3600, jitter=0) == 600
    assert policy.wait_before(1, retry_after=-5, jitter=0) == 0
    assert policy.retry_after(float("inf")) == 600
    assert not policy.parks(2.0)
    assert policy.parks(2.01)


@pytest.mark.parametrize(
    ("in_window", "limit", "ahead", "expected"),
    [
        (3, 3, 0, (1, 1)),  # full: when the oldest admission leaves the window
        (3, 3, 1, (2, 1)),  # one queued before: the second oldest
        (3, 3, 2, (3, 1)),
        (3, 3, 3, (1, 2)),  # the first one queued took the oldest's room: an hour later
        (3, 3, 7, (2, 3)),
        (2, 3, 1, (1, 1)),  # room for the one ahead, then the oldest must leave
        (1, 3, 1, (0, 1)),  # room now, behind the one ahead
        (0, 2, 5, (0, 3)),  # 2 now, 2 an hour on, this one with the fifth two hours on
        (1, 1, 0, (1, 1)),
        (1, 1, 100_000, (1, 100_001)),
    ],
)
def test_a_queued_run_fits_once_the_admissions_before_it_left_the_window(
    in_window: int, limit: int, ahead: int, expected: tuple[int, int]
) -> None:
    assert queue_slot(in_window, limit, ahead) == expected


def test_the_queue_slot_never_lets_more_than_the_limit_into_any_hour() -> None:
    """Simulate a queue: admissions at the times queue_slot/queue_due_at give, never more than
    ``limit`` in any rolling hour, each as early as the window allows."""
    hour = timedelta(hours=1)
    now = datetime(2026, 11, 21, tzinfo=UTC)
    for limit in (1, 2, 3, 5):
        admitted = sorted(now - hour + timedelta(minutes=7 * i + 1) for i in range(limit))
        due: list[datetime] = []
        for ahead in range(12):
            window = [t for t in admitted if t > now - hour]
            kth, hours = queue_slot(len(window), limit, ahead)
            due.append(queue_due_at(now, window[kth - 1] if kth else None, hours))
        times = sorted(admitted + due)
        for t in times:
            assert sum(1 for u in times if t - hour < u <= t) <= limit
        assert due == sorted(due)


def test_a_queued_run_never_looks_again_sooner_than_the_least_wait() -> None:
    now = datetime(2026, 11, 21, tzinfo=UTC)
    assert queue_due_at(now, None, 1) == now + REQUEUE_AT_LEAST
    assert queue_due_at(now, now - timedelta(hours=2), 1) == now + REQUEUE_AT_LEAST
    assert queue_due_at(now, now - timedelta(minutes=30), 1) == now + timedelta(minutes=30)
    assert queue_due_at(now, None, 3) == now + timedelta(hours=2)


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ({"type": "webhook", "url": "https://Hooks.Example.com/in"}, "http:hooks.example.com"),
        (VALID["call_api"] | {"url": "https://api.example.com/v1"}, "http:api.example.com"),
        (
            VALID["teams"] | {"url": "https://outlook.office.com/webhook/x"},
            "http:outlook.office.com",
        ),
        ({k: v for k, v in VALID["teams"].items() if k != "url"}, "teams"),
        (VALID["slack"], "slack"),
        (VALID["email"], "smtp"),
        (VALID["salesforce_create"], "salesforce"),
        (VALID["salesforce_update"], "salesforce"),
        (VALID["hubspot_create"], "hubspot"),
        (VALID["hubspot_update"], "hubspot"),
        (VALID["tag"], None),
        (VALID["delay"], None),
    ],
)
def test_each_action_names_the_destination_a_rate_limit_answer_pauses(
    action: dict[str, Any], expected: str | None
) -> None:
    workflow = WorkflowDefinition.model_validate(
        {"name": "w", "trigger": "customer.created", "actions": [action]}
    )
    assert destination_of(workflow.actions[0]) == expected


def test_timers_are_named_by_execution_reason_step_and_park_count() -> None:
    assert timer_id_for("exe_1", "delay", 2, 0) == "exe_1:delay:2:1"
    assert timer_id_for("exe_1", "delay", 2, 3) == "exe_1:delay:2:4"
    moment = datetime(2026, 11, 21, 10, 0, 0, 250_000, tzinfo=UTC)
    timer = lease_timer("exe_1", 1, moment)
    assert timer == lease_timer("exe_1", 1, moment)
    assert (timer.reason, timer.step, timer.due_at) == ("retry", 1, moment)
    parked = deferred(a_request(), timer)
    assert parked.resumption == timer.resumption()
    assert parked.request.execution_id == "exe_1"


def test_an_execution_waits_only_on_its_own_timer() -> None:
    due = datetime(2026, 11, 21, tzinfo=UTC)
    timer = Timer("exe_1:delay:1:1", "delay", 1, due)
    waiting = ExecutionProgress(status="waiting", timer=timer)
    assert waiting.waits_on(timer.resumption())
    assert not waiting.waits_on(None)
    assert not waiting.waits_on(Timer("exe_1:delay:1:0", "delay", 1, due).resumption())
    assert not ExecutionProgress(status="running", timer=timer).waits_on(timer.resumption())
    assert not waiting.final
    assert ExecutionProgress(status="exited").final


def test_an_execution_that_went_past_failed_steps_succeeded_with_errors() -> None:
    assert finished_status(set()) == "succeeded"
    assert finished_status({2}) == "succeeded_with_errors"
    assert continued_error({3, 1})["failedSteps"] == [1, 3]
    assert continued_error({3, 1})["code"] == "steps_failed"


def test_admissions_over_the_limit_are_counted_in_every_rolling_hour() -> None:
    start = datetime(2026, 11, 21, tzinfo=UTC)

    def at(*minutes: int) -> list[datetime]:
        return [start + timedelta(minutes=m) for m in minutes]

    assert admissions_over_limit(at(0, 30, 60), 2) == 0  # 0 left the window when 60 came
    assert admissions_over_limit(at(0, 30, 59), 2) == 1
    assert admissions_over_limit(at(0, 10, 20, 60, 61, 62), 2) == 4  # 20, 60, 61, 62
    assert admissions_over_limit([start] * 5, 3) == 2
    assert admissions_over_limit([], 1) == 0
