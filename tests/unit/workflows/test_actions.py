"""The action catalogue: each schema accepts a valid action and refuses an invalid one at the
right JSON path; "only if" conditions on any action; delays; limits."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from shared.workflows import ACTION_TYPES, WorkflowDefinition, parse_duration
from shared.workflows.actions import EmailAction
from shared.workflows.limits import MAX_ACTIONS, MAX_RECIPIENTS
from tests.unit.workflows.jsonpath import json_paths

VALID: dict[str, dict[str, Any]] = {
    "email": {
        "type": "email",
        "to": ["ops@example.com", "{{accountOwnerEmail}}"],
        "subject": "Renewal for {{customerName}}",
        "body": "{{#if value > 100000}}Escalate.{{else}}FYI.{{/if}}",
    },
    "slack": {"type": "slack", "channel": "#sales-wins", "message": "Won {{customerName}}"},
    "teams": {
        "type": "teams",
        "url": "https://example.webhook.office.com/webhookb2/abc",
        "title": "Deal",
        "message": "Won {{customerName}}",
    },
    "webhook": {
        "type": "webhook",
        "url": "https://hooks.example.com/in",
        "method": "PUT",
        "headers": {"X-Team": "sales"},
    },
    "in_app_notification": {
        "type": "in_app_notification",
        "to": ["account_owner", "{{createdBy}}"],
        "message": "Offer {{offerName}} viewed",
    },
    "salesforce_create": {
        "type": "salesforce_create",
        "object": "Opportunity",
        "mapping": {"Name": "{{customerName}}", "Amount": 5, "Closed__c": True},
    },
    "salesforce_update": {
        "type": "salesforce_update",
        "object": "Opportunity",
        "recordId": "{{salesforceOpportunityId}}",
        "mapping": {"StageName": "Closed Won"},
    },
    "hubspot_create": {
        "type": "hubspot_create",
        "object": "deals",
        "mapping": {"dealname": "{{offerName}}", "amount": "{{value}}"},
    },
    "hubspot_update": {
        "type": "hubspot_update",
        "object": "2-1234",
        "recordId": "98765",
        "mapping": {"dealstage": "closedwon"},
    },
    "log_activity": {
        "type": "log_activity",
        "subject": "Offer viewed by {{customerName}}",
        "activityType": "email",
    },
    "create_task": {
        "type": "create_task",
        "title": "Call {{customerName}}",
        "assignTo": "account_owner",
        "dueDate": "end_of_quarter",
        "priority": "low",
        "project": "Renewals",
    },
    "create_task_series": {
        "type": "create_task_series",
        "tasks": [
            {"title": "Kickoff", "dueDate": "+1 day", "assignTo": "csm@example.com"},
            {"title": "Review", "dueDate": "{{contractEndDate}}", "assignTo": "account_owner"},
        ],
    },
    "assign_to_user": {"type": "assign_to_user", "assignTo": "user_42"},
    "update_record": {
        "type": "update_record",
        "recordType": "contract",
        "mapping": {"renewalStatus": "in_progress"},
    },
    "create_record": {
        "type": "create_record",
        "recordType": "private_offer",
        "mapping": {"name": "Renewal {{customerName}}", "discount": 5.5},
    },
    "tag": {"type": "tag", "tags": ["high-value", "{{marketplace}}"]},
    "call_api": {
        "type": "call_api",
        "url": "https://api.example.com/v1/customers",
        "method": "POST",
        "headers": {"X-Customer": "{{customerId}}"},
        "body": {"name": "{{customerName}}", "tags": ["a", "{{vendor}}"], "n": 1, "x": None},
    },
    "trigger_workflow": {"type": "trigger_workflow", "workflowId": "wf_0123abcd"},
    "delay": {"type": "delay", "duration": "1 week"},
    "create_draft_offer": {
        "type": "create_draft_offer",
        "basedOn": "current_offer",
        "adjustments": {"discount": 12.5},
        "name": "Renewal: {{offerName}}",
    },
}

# type -> (a change that makes VALID[type] invalid, the JSON path of the error, message part)
INVALID: dict[str, tuple[dict[str, Any], str, str]] = {
    "email": ({"to": ["not an address"]}, "$.actions[0].email.to[0]", "not an e-mail address"),
    "slack": ({"channel": "sales wins"}, "$.actions[0].slack.channel", "not a Slack channel"),
    "teams": ({"url": "ftp://example.com/x"}, "$.actions[0].teams.url", "scheme"),
    "webhook": ({"url": "not a url"}, "$.actions[0].webhook.url", "valid URL"),
    "in_app_notification": ({"to": []}, "$.actions[0].in_app_notification.to", "at least 1"),
    "salesforce_create": (
        {"mapping": {"Bad Field": "x"}},
        "$.actions[0].salesforce_create.mapping.Bad Field.[key]",
        "pattern",
    ),
    "salesforce_update": (
        {"recordId": None},
        "$.actions[0].salesforce_update.recordId",
        "valid string",
    ),
    "hubspot_create": ({"object": "Deals!"}, "$.actions[0].hubspot_create.object", "pattern"),
    "hubspot_update": ({"mapping": {}}, "$.actions[0].hubspot_update.mapping", "at least 1"),
    "log_activity": (
        {"activityType": "sms"},
        "$.actions[0].log_activity.activityType",
        "'note'",
    ),
    "create_task": (
        {"priority": "critical"},
        "$.actions[0].create_task.priority",
        "'urgent'",
    ),
    "create_task_series": (
        {"tasks": [{"title": "Kickoff", "dueDate": "next week"}]},
        "$.actions[0].create_task_series.tasks[0].dueDate",
        "not a date",
    ),
    "assign_to_user": (
        {"assignTo": "Ann Smith"},
        "$.actions[0].assign_to_user.assignTo",
        "not a user",
    ),
    "update_record": (
        {"recordType": "Contract"},
        "$.actions[0].update_record.recordType",
        "pattern",
    ),
    "create_record": (
        {"mapping": {"name": "{{#if}}"}},
        "$.actions[0].create_record.mapping.name",
        "needs a condition",
    ),
    "tag": ({"tags": ["x" * 101]}, "$.actions[0].tag.tags[0]", "at most 100"),
    "call_api": ({"method": "TRACE"}, "$.actions[0].call_api.method", "'GET'"),
    "trigger_workflow": (
        {"workflowId": "../other-tenant/wf"},
        "$.actions[0].trigger_workflow.workflowId",
        "pattern",
    ),
    "delay": ({"duration": "2 fortnights"}, "$.actions[0].delay.duration", "not a duration"),
    "create_draft_offer": (
        {"adjustments": {"discount": 120}},
        "$.actions[0].create_draft_offer.adjustments.discount",
        "less than or equal to 100",
    ),
}


def workflow(*actions: dict[str, Any]) -> dict[str, Any]:
    return {"name": "w", "trigger": "private_offer.accepted", "actions": list(actions)}


def refusal(*actions: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        WorkflowDefinition.model_validate(workflow(*actions))
    return refused.value


def test_the_catalogue_is_seed_000s() -> None:
    assert set(ACTION_TYPES) == set(VALID) == set(INVALID)
    assert len(ACTION_TYPES) == 20


@pytest.mark.parametrize("action_type", ACTION_TYPES)
def test_each_action_type_accepts_a_valid_action_and_round_trips(action_type: str) -> None:
    definition = WorkflowDefinition.model_validate(workflow(VALID[action_type]))
    (action,) = definition.actions
    assert action.type == action_type
    assert WorkflowDefinition.model_validate_json(definition.model_dump_json()) == definition
    written = action.model_dump(mode="json", exclude_unset=True)
    assert written == VALID[action_type]


@pytest.mark.parametrize("action_type", ACTION_TYPES)
def test_each_action_type_refuses_an_invalid_action_at_its_path(action_type: str) -> None:
    change, path, message = INVALID[action_type]
    error = refusal(VALID[action_type] | change)
    assert path in json_paths(error), json_paths(error)
    assert message in str(error)


@pytest.mark.parametrize("action_type", ACTION_TYPES)
def test_each_action_type_may_carry_its_own_conditions(action_type: str) -> None:
    only_if = {"logic": "OR", "rules": [{"field": "tier", "operator": "equals", "value": "gold"}]}
    definition = WorkflowDefinition.model_validate(
        workflow(VALID[action_type] | {"conditions": only_if})
    )
    conditions = definition.actions[0].conditions
    assert conditions is not None
    assert conditions.model_dump() == only_if


@pytest.mark.parametrize("action_type", ACTION_TYPES)
def test_each_action_type_refuses_unknown_fields(action_type: str) -> None:
    error = refusal(VALID[action_type] | {"colour": "red"})
    assert json_paths(error) == [f"$.actions[0].{action_type}.colour"]


def test_snake_case_spellings_of_the_seeds_names_are_refused() -> None:
    task = dict(VALID["create_task"])
    task["assign_to"] = task.pop("assignTo")
    paths = json_paths(refusal(task))
    assert "$.actions[0].create_task.assign_to" in paths
    assert "$.actions[0].create_task.assignTo" in paths


@pytest.mark.parametrize(
    ("action", "path", "message"),
    [
        ({"type": "slackish"}, "$.actions[0]", "does not match any of the expected tags"),
        ({"channel": "#x"}, "$.actions[0]", "Unable to extract tag"),
        ({"type": "script", "code": "rm -rf /"}, "$.actions[0]", "'email'"),
    ],
)
def test_unknown_action_types_are_refused(action: dict[str, Any], path: str, message: str) -> None:
    error = refusal(action)
    assert json_paths(error) == [path]
    assert message in str(error)


# --- e-mail -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "message"),
    [
        ({"type": "email", "to": ["a@x.com"]}, "needs a 'template', or both"),
        ({"type": "email", "subject": "Hi"}, "needs a 'template', or both"),
        ({"type": "email", "template": "t", "subject": "Hi"}, "not both"),
        ({"type": "email", "template": "bad name"}, "pattern"),
        ({"type": "email", "template": "t", "to": []}, "at least 1"),
        ({"type": "email", "template": "t", "to": ["{{customerEmail"]}, "opens no tag"),
        ({"type": "email", "template": "t", "to": ["a@x.com\nBcc: b@y.com"]}, "not an e-mail"),
        ({"type": "email", "template": "t", "to": ["{{#if a}}{{/if}}"]}, "field operator"),
    ],
)
def test_email_needs_a_template_or_inline_content_and_real_recipients(
    email: dict[str, Any], message: str
) -> None:
    error = refusal(email)
    assert all(path.startswith("$.actions[0].email") for path in json_paths(error))
    assert message in str(error)


def test_email_recipients_are_bounded() -> None:
    many = [f"u{i}@example.com" for i in range(MAX_RECIPIENTS + 1)]
    error = refusal({"type": "email", "template": "t", "to": many})
    assert json_paths(error) == ["$.actions[0].email.to"]


def test_an_email_without_recipients_goes_to_the_customer() -> None:
    email = EmailAction.model_validate({"type": "email", "template": "welcome"})
    assert email.recipients == ["{{customerEmail}}"]
    assert "to" not in email.model_dump(exclude_unset=True)


# --- other schemas ------------------------------------------------------------------------------


def test_a_task_series_task_needs_an_assignee_somewhere() -> None:
    error = refusal({"type": "create_task_series", "tasks": [{"title": "a"}, {"title": "b"}]})
    assert json_paths(error) == ["$.actions[0].create_task_series"]
    assert "tasks[0] has no 'assignTo'" in str(error)


def test_call_api_refuses_a_body_on_get_and_bad_templates_inside_the_body() -> None:
    get = VALID["call_api"] | {"method": "GET"}
    assert "sends no 'body'" in str(refusal(get))
    bad = VALID["call_api"] | {"body": {"a": [{"b": "{{ exec('x') }}"}]}}
    error = refusal(bad)
    assert json_paths(error) == ["$.actions[0].call_api.body"]
    assert "is not a variable" in str(error)
    huge = VALID["call_api"] | {"body": {"a": "x" * 70_000}}
    assert "at most 65536" in str(refusal(huge))


@pytest.mark.parametrize("header", ["X-Bad\r\nInjected: 1", "X Bad"])
def test_header_names_and_values_cannot_smuggle_headers(header: str) -> None:
    webhook = VALID["webhook"] | {"headers": {header: "v"}}
    refusal(webhook)
    webhook = VALID["webhook"] | {"headers": {"X-Ok": "v\r\nInjected: 1"}}
    assert "$.actions[0].webhook.headers.X-Ok" in json_paths(refusal(webhook))


def test_urls_are_bounded() -> None:
    long = "https://hooks.example.com/" + "a" * 2100
    assert "at most 2048" in str(refusal(VALID["webhook"] | {"url": long}))


@pytest.mark.parametrize(
    ("due", "ok"),
    [
        ("today", True),
        ("tomorrow", True),
        ("+7 days", True),
        ("-1 day", True),
        ("+2 weeks", True),
        ("end_of_month", True),
        ("2027-01-31", True),
        ("2027-01-31T09:00:00Z", True),
        ("{{contractEndDate}}", True),
        ("next week", False),
        ("+99999 days", False),
        ("{{contractEndDate", False),
    ],
)
def test_due_dates_are_date_math_iso_dates_or_templates(due: str, ok: bool) -> None:
    task = VALID["create_task"] | {"dueDate": due}
    if ok:
        WorkflowDefinition.model_validate(workflow(task))
    else:
        assert json_paths(refusal(task)) == ["$.actions[0].create_task.dueDate"]


# --- delays ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2 days", timedelta(days=2)),
        ("1 day", timedelta(days=1)),
        ("1 days", timedelta(days=1)),
        ("30 seconds", timedelta(seconds=30)),
        ("1 second", timedelta(seconds=1)),
        ("90 minutes", timedelta(minutes=90)),
        ("12 hours", timedelta(hours=12)),
        ("1 week", timedelta(weeks=1)),
        ("52 weeks", timedelta(weeks=52)),
        ("3 Days", timedelta(days=3)),
        ("5days", timedelta(days=5)),
        ("365 days", timedelta(days=365)),
    ],
)
def test_delay_durations(text: str, period: timedelta) -> None:
    assert parse_duration(text) == period


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0 days", "longer than zero"),
        ("-1 day", "not a duration"),
        ("1.5 hours", "not a duration"),
        ("2 months", "not a duration"),
        ("two days", "not a duration"),
        ("366 days", "at most 365 days"),
        ("53 weeks", "at most 365 days"),
        ("999999999 seconds", "at most 365 days"),
        ("", "not a duration"),
    ],
)
def test_delay_durations_are_positive_bounded_and_in_known_units(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_duration(text)
    error = refusal({"type": "delay", "duration": text})
    assert json_paths(error) == ["$.actions[0].delay.duration"]


# --- limits ---------------------------------------------------------------------------------------


def test_a_workflow_has_one_to_fifty_actions() -> None:
    slack = VALID["slack"]
    WorkflowDefinition.model_validate(workflow(*[slack] * MAX_ACTIONS))
    assert json_paths(refusal(*[slack] * (MAX_ACTIONS + 1))) == ["$.actions"]
    assert json_paths(refusal()) == ["$.actions"]


def test_templates_are_bounded() -> None:
    error = refusal(VALID["slack"] | {"message": "x" * 10_001})
    assert json_paths(error) == ["$.actions[0].slack.message"]
    assert "at most 10000" in str(error)
