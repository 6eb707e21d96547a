"""Every JSON example of seed 000, copied verbatim, is accepted and means what the page says;
seed 001's per-action conditions and enrollment."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.workflows import (
    ConditionGroup,
    WorkflowDefinition,
    WorkflowUpdate,
    evaluate,
    explain,
    render,
    render_date,
)
from shared.workflows.actions import (
    CreateDraftOfferAction,
    CreateTaskAction,
    CreateTaskSeriesAction,
    DelayAction,
    EmailAction,
    SalesforceCreateAction,
    SlackAction,
    TriggerWorkflowAction,
)

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)

# --- seed 000, verbatim (whitespace included) ---------------------------------------------------

CONDITION_BUILDER = """{
  "conditions": [
    {
      "field": "value",
      "operator": "greater_than",
      "value": 100000
    },
    {
      "field": "vendor",
      "operator": "equals",
      "value": "aws"
    }
  ],
  "logic": "AND"
}"""

HIGH_VALUE_DEAL_ALERT = """{
  "name": "High-Value Deal Alert",
  "trigger": "private_offer.accepted",
  "conditions": {
    "logic": "AND",
    "rules": [
      { "field": "value", "operator": "greater_than", "value": 100000 },
      { "field": "vendor", "operator": "equals", "value": "aws" }
    ]
  },
  "actions": [
    {
      "type": "slack",
      "channel": "#sales-wins",
      "message": "🎉 Big Win! {{customerName}} - ${{value}}"
    },
    {
      "type": "email",
      "to": ["sales-leadership@company.com"],
      "template": "high-value-deal"
    },
    {
      "type": "salesforce_create",
      "object": "Opportunity",
      "mapping": {
        "Name": "{{customerName}} - {{productName}}",
        "Amount": "{{value}}",
        "StageName": "Closed Won"
      }
    }
  ]
}"""

RENEWAL_REMINDER = """{
  "name": "90-Day Renewal Reminder",
  "trigger": "contract.expiring",
  "conditions": {
    "rules": [
      { "field": "daysUntilExpiry", "operator": "equals", "value": 90 }
    ]
  },
  "actions": [
    {
      "type": "create_task",
      "title": "Renewal conversation: {{customerName}}",
      "assignTo": "account_owner",
      "dueDate": "+7 days",
      "priority": "high"
    },
    {
      "type": "email",
      "to": ["{{accountOwnerEmail}}"],
      "template": "renewal-reminder-internal"
    },
    {
      "type": "create_draft_offer",
      "basedOn": "current_contract",
      "adjustments": {
        "duration": 12,
        "discount": 0
      }
    }
  ]
}"""

METERING_FAILURE_ESCALATION = r"""{
  "name": "Metering Failure Escalation",
  "trigger": "metering.failed",
  "conditions": {
    "rules": [
      { "field": "retryCount", "operator": "greater_than", "value": 3 }
    ]
  },
  "actions": [
    {
      "type": "slack",
      "channel": "#engineering-alerts",
      "message": "🚨 Metering failure: {{customerName}} - {{dimension}}\nError: {{errorMessage}}"
    },
    {
      "type": "create_task",
      "title": "URGENT: Fix metering for {{customerName}}",
      "assignTo": "engineering_lead",
      "dueDate": "today",
      "priority": "urgent"
    }
  ]
}"""

NEW_CUSTOMER_ONBOARDING = """{
  "name": "New Customer Onboarding",
  "trigger": "customer.created",
  "actions": [
    {
      "type": "email",
      "to": ["{{customerEmail}}"],
      "template": "welcome-email"
    },
    {
      "type": "create_task_series",
      "tasks": [
        {
          "title": "Schedule kickoff call",
          "dueDate": "+1 day"
        },
        {
          "title": "Send onboarding resources",
          "dueDate": "+2 days"
        },
        {
          "title": "Check-in call",
          "dueDate": "+14 days"
        }
      ],
      "assignTo": "customer_success"
    },
    {
      "type": "slack",
      "channel": "#new-customers",
      "message": "👋 New customer: {{customerName}}"
    }
  ]
}"""

DRY_RUN_BODY = """{
  "dryRun": true,
  "testData": {
    "customerName": "Test Company",
    "value": 150000,
    "vendor": "aws"
  }
}"""

DISABLE = """{
  "active": false
}"""

CHAINING = """{
  "actions": [
    {
      "type": "trigger_workflow",
      "workflowId": "workflow_456",
      "passData": true
    }
  ]
}"""

DELAYS = """{
  "actions": [
    {
      "type": "email",
      "template": "welcome"
    },
    {
      "type": "delay",
      "duration": "2 days"
    },
    {
      "type": "email",
      "template": "follow-up"
    }
  ]
}"""

RATE_LIMITING = """{
  "settings": {
    "maxExecutionsPerHour": 100,
    "throttleAction": "queue"
  }
}"""

ERROR_HANDLING = """{
  "errorHandling": {
    "onError": "continue",
    "retryCount": 3,
    "notifyOnFailure": ["admin@company.com"]
  }
}"""

UPDATE = """{
  "name": "Updated Workflow",
  "active": true
}"""

CONDITIONAL_CONTENT = """{{#if value > 100000}}
This is a high-value deal requiring executive approval.
{{else}}
Standard deal processing applies.
{{/if}}"""

# The page's prose for the same alert (de-indented): a template, not a JSON example.
SLACK_TEXT = """🎉 Big Win Alert!
{{customerName}} accepted ${{value}} deal
Product: {{productName}}"""

WORKFLOWS = [
    HIGH_VALUE_DEAL_ALERT,
    RENEWAL_REMINDER,
    METERING_FAILURE_ESCALATION,
    NEW_CUSTOMER_ONBOARDING,
]
FRAGMENTS = [DISABLE, CHAINING, DELAYS, RATE_LIMITING, ERROR_HANDLING, UPDATE]


@pytest.mark.parametrize("example", WORKFLOWS, ids=lambda e: json.loads(e)["name"])
def test_every_seed_workflow_is_accepted_verbatim_and_round_trips(example: str) -> None:
    workflow = WorkflowDefinition.model_validate_json(example)
    assert workflow.name == json.loads(example)["name"]
    assert workflow.status == "draft"
    assert WorkflowDefinition.model_validate_json(workflow.model_dump_json()) == workflow
    written = workflow.model_dump(mode="json", exclude_unset=True, exclude={"active"})
    assert written == json.loads(example)


@pytest.mark.parametrize("fragment", FRAGMENTS)
def test_every_seed_fragment_is_a_valid_partial_definition(fragment: str) -> None:
    update = WorkflowUpdate.model_validate_json(fragment)
    assert update.model_fields_set


def test_the_condition_builder_example_is_a_group_that_filters_as_the_seed_says() -> None:
    group = ConditionGroup.model_validate_json(CONDITION_BUILDER)
    assert group.logic == "AND"
    assert [rule.model_dump() for rule in group.rules] == json.loads(CONDITION_BUILDER)[
        "conditions"
    ]
    assert evaluate(group, {"value": 150000, "vendor": "aws"})
    assert not evaluate(group, {"value": 150000, "vendor": "azure"})
    assert not evaluate(group, {"value": 100000, "vendor": "aws"})


def test_both_condition_shapes_mean_the_same_and_serialize_as_rules() -> None:
    builder = ConditionGroup.model_validate_json(CONDITION_BUILDER)
    alert = WorkflowDefinition.model_validate_json(HIGH_VALUE_DEAL_ALERT)
    assert alert.conditions == builder
    assert set(builder.model_dump()) == {"logic", "rules"}


def test_the_high_value_deal_alert_runs_on_the_dry_run_test_data() -> None:
    workflow = WorkflowDefinition.model_validate_json(HIGH_VALUE_DEAL_ALERT)
    test_data = json.loads(DRY_RUN_BODY)["testData"]
    assert workflow.conditions is not None
    explanation = explain(workflow.conditions, test_data, path="$.conditions")
    assert explanation.result
    assert [(r["path"], r["actual"], r["result"]) for r in explanation.rules] == [
        ("$.conditions.rules[0]", 150000, True),
        ("$.conditions.rules[1]", "aws", True),
    ]
    slack, email, opportunity = workflow.actions
    assert isinstance(slack, SlackAction)
    assert slack.channel == "#sales-wins"
    assert render(slack.message, test_data, NOW).text == "🎉 Big Win! Test Company - $150000"
    assert isinstance(email, EmailAction)
    assert email.recipients == ["sales-leadership@company.com"]
    assert email.template == "high-value-deal"
    assert isinstance(opportunity, SalesforceCreateAction)
    assert opportunity.sobject == "Opportunity"
    name = render(str(opportunity.mapping["Name"]), test_data, NOW)
    assert (name.text, name.missing) == ("Test Company - ", ["productName"])
    assert opportunity.mapping["StageName"] == "Closed Won"


def test_the_renewal_reminder_fires_90_days_out_and_plans_a_renewal() -> None:
    workflow = WorkflowDefinition.model_validate_json(RENEWAL_REMINDER)
    assert workflow.conditions is not None
    assert workflow.conditions.logic == "AND"
    assert evaluate(workflow.conditions, {"daysUntilExpiry": 90})
    assert not evaluate(workflow.conditions, {"daysUntilExpiry": 89})
    task, email, offer = workflow.actions
    assert isinstance(task, CreateTaskAction)
    assert (task.assign_to, task.priority) == ("account_owner", "high")
    assert task.due_date is not None
    assert render_date(task.due_date, {}, NOW) == date(2026, 11, 28)
    assert isinstance(email, EmailAction)
    assert render(email.recipients[0], {"accountOwnerEmail": "ann@x.com"}, NOW).text == "ann@x.com"
    assert isinstance(offer, CreateDraftOfferAction)
    assert offer.based_on == "current_contract"
    assert (offer.adjustments.duration, offer.adjustments.discount) == (12, 0)


def test_the_metering_escalation_fires_after_three_retries() -> None:
    workflow = WorkflowDefinition.model_validate_json(METERING_FAILURE_ESCALATION)
    assert workflow.conditions is not None
    assert not evaluate(workflow.conditions, {"retryCount": 3})
    assert evaluate(workflow.conditions, {"retryCount": 4})
    slack, task = workflow.actions
    assert isinstance(slack, SlackAction)
    data = {"customerName": "Globex", "dimension": "api_calls", "errorMessage": "timeout"}
    assert render(slack.message, data, NOW).text == (
        "🚨 Metering failure: Globex - api_calls\nError: timeout"
    )
    assert isinstance(task, CreateTaskAction)
    assert task.priority == "urgent"
    assert task.due_date is not None
    assert render_date(task.due_date, data, NOW) == date(2026, 11, 21)


def test_new_customer_onboarding_runs_on_every_new_customer_with_three_tasks() -> None:
    workflow = WorkflowDefinition.model_validate_json(NEW_CUSTOMER_ONBOARDING)
    assert workflow.conditions is None
    assert workflow.enrollment == "every_time"
    _, series, _ = workflow.actions
    assert isinstance(series, CreateTaskSeriesAction)
    assert series.assign_to == "customer_success"
    due = [render_date(task.due_date or "", {}, NOW) for task in series.tasks]
    assert due == [date(2026, 11, 22), date(2026, 11, 23), date(2026, 12, 5)]


def test_chaining_starts_workflow_456_with_this_events_data() -> None:
    update = WorkflowUpdate.model_validate_json(CHAINING)
    assert update.actions is not None
    (chain,) = update.actions
    assert isinstance(chain, TriggerWorkflowAction)
    assert (chain.workflow_id, chain.pass_data) == ("workflow_456", True)
    assert json.loads(update.model_dump_json(exclude_unset=True)) == json.loads(CHAINING)


def test_delays_wait_two_days_between_two_emails_to_the_customer() -> None:
    update = WorkflowUpdate.model_validate_json(DELAYS)
    assert update.actions is not None
    welcome, delay, follow_up = update.actions
    assert isinstance(delay, DelayAction)
    assert delay.period == timedelta(days=2)
    for email, template in ((welcome, "welcome"), (follow_up, "follow-up")):
        assert isinstance(email, EmailAction)
        assert (email.template, email.recipients) == (template, ["{{customerEmail}}"])


def test_rate_limiting_queues_beyond_100_per_hour() -> None:
    update = WorkflowUpdate.model_validate_json(RATE_LIMITING)
    assert update.settings is not None
    assert update.settings.max_executions_per_hour == 100
    assert update.settings.throttle_action == "queue"
    assert json.loads(update.model_dump_json(exclude_unset=True)) == json.loads(RATE_LIMITING)


def test_error_handling_retries_three_times_then_continues_and_notifies() -> None:
    update = WorkflowUpdate.model_validate_json(ERROR_HANDLING)
    handling = update.error_handling
    assert handling is not None
    assert (handling.on_error, handling.retry_count) == ("continue", 3)
    assert handling.notify_on_failure == ["admin@company.com"]
    assert json.loads(update.model_dump_json(exclude_unset=True)) == json.loads(ERROR_HANDLING)


def test_the_put_bodies_switch_a_workflow_off_and_on() -> None:
    assert WorkflowUpdate.model_validate_json(DISABLE).status == "paused"
    renamed = WorkflowUpdate.model_validate_json(UPDATE)
    assert (renamed.name, renamed.status) == ("Updated Workflow", "active")


def test_the_seed_definitions_accept_the_active_flag_of_the_create_example() -> None:
    body = json.loads(HIGH_VALUE_DEAL_ALERT) | {"active": True}
    workflow = WorkflowDefinition.model_validate(body)
    assert (workflow.status, workflow.active) == ("active", True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (150000, "\nThis is a high-value deal requiring executive approval.\n"),
        (100000, "\nStandard deal processing applies.\n"),
    ],
)
def test_the_conditional_content_example_renders_each_branch(value: int, expected: str) -> None:
    assert render(CONDITIONAL_CONTENT, {"value": value}, NOW).text == expected


def test_the_big_win_slack_text_renders() -> None:
    data = {"customerName": "Globex", "value": 250000, "productName": "DataPipe"}
    assert render(SLACK_TEXT, data, NOW).text == (
        "🎉 Big Win Alert!\nGlobex accepted $250000 deal\nProduct: DataPipe"
    )


# --- seed 001 -----------------------------------------------------------------------------------

TRIAL_NURTURE = """{
  "name": "Trial nurture",
  "trigger": "customer.created",
  "enrollment": "once",
  "conditions": {"rules": [{"field": "status", "operator": "equals", "value": "trial"}]},
  "actions": [
    {"type": "email", "template": "trial-day-1"},
    {"type": "delay", "duration": "3 days"},
    {
      "type": "email",
      "template": "trial-day-4",
      "conditions": {"rules": [{"field": "status", "operator": "equals", "value": "trial"}]}
    },
    {
      "type": "slack",
      "channel": "#sales",
      "message": "Big trial: {{customerName}}",
      "conditions": {
        "logic": "OR",
        "rules": [
          {"field": "seats", "operator": "greater_than", "value": 50},
          {"field": "plan", "operator": "in", "value": ["enterprise", "business"]}
        ]
      }
    }
  ]
}"""


def test_seed_001_enrollment_once_and_only_if_conditions_per_action() -> None:
    workflow = WorkflowDefinition.model_validate_json(TRIAL_NURTURE)
    assert workflow.enrollment == "once"
    first, _, second, slack = workflow.actions
    assert first.conditions is None
    assert second.conditions is not None
    assert evaluate(second.conditions, {"status": "trial"})
    assert not evaluate(second.conditions, {"status": "paying"})
    assert slack.conditions is not None
    assert evaluate(slack.conditions, {"seats": 10, "plan": "business"})
    assert not evaluate(slack.conditions, {"seats": 10, "plan": "starter"})
    assert WorkflowDefinition.model_validate_json(workflow.model_dump_json()) == workflow


@pytest.mark.parametrize("enrollment", ["every_time", "once"])
def test_enrollment_is_every_time_or_once(enrollment: str) -> None:
    body = json.loads(NEW_CUSTOMER_ONBOARDING) | {"enrollment": enrollment}
    assert WorkflowDefinition.model_validate(body).enrollment == enrollment


def test_an_unknown_enrollment_is_refused() -> None:
    body = json.loads(NEW_CUSTOMER_ONBOARDING) | {"enrollment": "twice"}
    with pytest.raises(ValueError, match="every_time"):
        WorkflowDefinition.model_validate(body)
