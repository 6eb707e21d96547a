"""The workflow definition as a whole: settings, error handling, status, round trips, updates."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from shared.contracts import CloudEvent, ExecutionRequest, WorkflowChange
from shared.workflows import WorkflowDefinition, WorkflowUpdate
from tests.unit.workflows.jsonpath import json_paths
from tests.unit.workflows.test_actions import VALID

SLACK = {"type": "slack", "channel": "#ops", "message": "hi"}


def definition(**fields: Any) -> dict[str, Any]:
    return {"name": "w", "trigger": "customer.created", "actions": [SLACK], **fields}


def refusal(body: dict[str, Any]) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        WorkflowDefinition.model_validate(body)
    return refused.value


EVERYTHING = {
    "name": "Everything",
    "description": "Every part of a definition at once.",
    "trigger": "schedule.cron",
    "schedule": {"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"},
    "conditions": {
        "logic": "OR",
        "rules": [
            {"field": "value", "operator": "greater_than", "value": 100000},
            {
                "logic": "AND",
                "rules": [
                    {"field": "vendor", "operator": "in", "value": ["aws", "azure"]},
                    {"field": "notes", "operator": "is_not_empty"},
                ],
            },
        ],
    },
    "actions": [
        VALID[action_type] | {"conditions": {"rules": [{"field": "x", "operator": "is_empty"}]}}
        for action_type in sorted(VALID)
    ],
    "exitConditions": {
        "logic": "AND",
        "rules": [{"field": "status", "operator": "equals", "value": "paid"}],
    },
    "settings": {"maxExecutionsPerHour": 100, "throttleAction": "drop"},
    "errorHandling": {"onError": "retry", "retryCount": 2, "notifyOnFailure": ["a@x.com"]},
    "enrollment": "once",
    "status": "active",
}


def test_a_full_definition_round_trips_through_its_own_json() -> None:
    workflow = WorkflowDefinition.model_validate(EVERYTHING)
    assert WorkflowDefinition.model_validate_json(workflow.model_dump_json()) == workflow
    stored = workflow.model_dump(mode="json", exclude={"active"})
    assert WorkflowDefinition.model_validate(stored) == workflow
    assert workflow.model_dump(mode="json", exclude_unset=True, exclude={"active"}) == EVERYTHING


def test_the_definition_serializes_with_the_seeds_names() -> None:
    dumped = WorkflowDefinition.model_validate(EVERYTHING).model_dump(mode="json")
    assert {"errorHandling", "settings", "enrollment", "status", "active"} <= set(dumped)
    assert set(dumped["settings"]) == {"maxExecutionsPerHour", "throttleAction"}
    assert set(dumped["errorHandling"]) == {"onError", "retryCount", "notifyOnFailure"}
    task = next(a for a in dumped["actions"] if a["type"] == "create_task")
    assert {"assignTo", "dueDate"} <= set(task)


def test_a_definition_travels_in_both_kafka_payloads() -> None:
    workflow = WorkflowDefinition.model_validate(EVERYTHING)
    change = WorkflowChange(
        tenant_id="acme",
        workflow_id="wf_1",
        version=3,
        workflow=workflow,
        changed_at="2026-11-21T10:00:00Z",  # type: ignore[arg-type]
    )
    assert WorkflowChange.model_validate_json(change.model_dump_json()) == change
    event = CloudEvent(id="e1", source="native", type="schedule.cron", tenantid="acme")
    request = ExecutionRequest(
        execution_id="exe_1",
        tenant_id="acme",
        workflow_id="wf_1",
        workflow_version=3,
        workflow=workflow,
        event=event,
    )
    assert ExecutionRequest.model_validate_json(request.model_dump_json()) == request


def test_defaults() -> None:
    workflow = WorkflowDefinition.model_validate(definition())
    assert workflow.status == "draft"
    assert workflow.enrollment == "every_time"
    assert workflow.conditions is None
    assert workflow.exit_conditions is None
    assert workflow.settings.max_executions_per_hour is None
    assert workflow.settings.throttle_action == "queue"
    assert (workflow.error_handling.on_error, workflow.error_handling.retry_count) == ("stop", 0)
    assert workflow.error_handling.notify_on_failure == []


def test_retry_retries_three_times_unless_told_otherwise() -> None:
    workflow = WorkflowDefinition.model_validate(definition(errorHandling={"onError": "retry"}))
    assert workflow.error_handling.retry_count == 3
    assert WorkflowDefinition.model_validate_json(workflow.model_dump_json()) == workflow


@pytest.mark.parametrize(
    ("fields", "path", "message"),
    [
        (
            {"settings": {"maxExecutionsPerHour": 0}},
            "$.settings.maxExecutionsPerHour",
            "or equal to 1",
        ),
        ({"settings": {"maxExecutionsPerHour": "many"}}, "$.settings.maxExecutionsPerHour", "int"),
        ({"settings": {"throttleAction": "wait"}}, "$.settings.throttleAction", "'queue'"),
        (
            {"settings": {"max_executions_per_hour": 5}},
            "$.settings.max_executions_per_hour",
            "Extra",
        ),
        ({"errorHandling": {"onError": "ignore"}}, "$.errorHandling.onError", "'continue'"),
        ({"errorHandling": {"retryCount": 11}}, "$.errorHandling.retryCount", "or equal to 10"),
        ({"errorHandling": {"retryCount": -1}}, "$.errorHandling.retryCount", "or equal to 0"),
        (
            {"errorHandling": {"onError": "retry", "retryCount": 0}},
            "$.errorHandling",
            "at least 1",
        ),
        (
            {"errorHandling": {"notifyOnFailure": ["admin"]}},
            "$.errorHandling.notifyOnFailure[0]",
            "not an e-mail address",
        ),
        ({"enrollment": "always"}, "$.enrollment", "'every_time'"),
        ({"status": "live"}, "$.status", "'draft'"),
        ({"name": "x" * 201}, "$.name", "at most 200"),
        ({"name": ""}, "$.name", "at least 1"),
        ({"description": "x" * 2001}, "$.description", "at most 2000"),
        ({"trigger": "offer.nope"}, "$.trigger", "'private_offer.created'"),
        ({"conditions": {"rules": []}}, "$.conditions", "at least one rule"),
        ({"exitConditions": {"rules": []}}, "$.exitConditions", "at least one rule"),
        (
            {"exitConditions": {"rules": [{"field": "value", "operator": "nearly"}]}},
            "$.exitConditions.rules[0].operator",
            "'equals'",
        ),
        ({"owner": "me"}, "$.owner", "Extra"),
    ],
)
def test_invalid_parts_are_refused_at_their_path(
    fields: dict[str, Any], path: str, message: str
) -> None:
    error = refusal(definition(**fields))
    assert path in json_paths(error), json_paths(error)
    assert message in str(error)


@pytest.mark.parametrize(
    "body",
    [
        definition(trigger=["customer.created"]),
        definition(trigger={"type": "customer.created"}),
        definition(active="yes"),
        definition(errorHandling=[]),
        definition(conditions={"rules": {"field": "a"}}),
        definition(conditions={"rules": [{"rules": "x"}]}),
        definition(actions=[{"type": ["slack"]}]),
        definition(actions="slack"),
        [],
        "workflow",
        None,
    ],
)
def test_any_shape_of_input_is_a_validation_error_never_a_crash(body: Any) -> None:
    with pytest.raises(ValidationError):
        WorkflowDefinition.model_validate(body)
    with pytest.raises(ValidationError):
        WorkflowUpdate.model_validate(body)


@pytest.mark.parametrize(("active", "status"), [(True, "active"), (False, "paused")])
def test_active_is_a_synonym_of_status_in_definitions_and_updates(
    active: bool, status: str
) -> None:
    assert WorkflowDefinition.model_validate(definition(active=active)).status == status
    assert WorkflowUpdate.model_validate({"active": active}).status == status
    contradiction = "paused" if active else "active"
    with pytest.raises(ValidationError, match="contradicts"):
        WorkflowUpdate.model_validate({"active": active, "status": contradiction})
    agreeing = "active" if active else "archived"
    assert WorkflowUpdate.model_validate({"active": active, "status": agreeing}).status == agreeing


@pytest.mark.parametrize(
    "shape",
    [
        {"conditions": [{"field": "status", "operator": "equals", "value": "paid"}], "logic": "OR"},
        {"logic": "AND", "rules": [{"field": "status", "operator": "equals", "value": "paid"}]},
    ],
)
def test_exit_conditions_take_both_seed_shapes_in_definitions_and_updates(
    shape: dict[str, Any],
) -> None:
    workflow = WorkflowDefinition.model_validate(definition(exitConditions=shape))
    assert workflow.exit_conditions is not None
    assert workflow.model_dump(mode="json")["exitConditions"] is not None
    assert WorkflowUpdate.model_validate({"exitConditions": shape}).exit_conditions is not None


def test_exit_conditions_are_type_checked_where_the_trigger_knows_the_fields() -> None:
    error = refusal(
        definition(
            trigger="private_offer.accepted",
            exitConditions={
                "rules": [{"field": "value", "operator": "greater_than", "value": "x"}]
            },
        )
    )
    assert "$.exitConditions.rules[0].value" in json_paths(error), json_paths(error)


def test_an_update_checks_each_field_as_the_definition_does() -> None:
    with pytest.raises(ValidationError) as refused:
        WorkflowUpdate.model_validate({"actions": [{"type": "delay", "duration": "forever"}]})
    assert json_paths(refused.value) == ["$.actions[0].delay.duration"]
    assert WorkflowUpdate.model_validate({}).model_fields_set == set()


def test_definitions_are_frozen() -> None:
    workflow = WorkflowDefinition.model_validate(definition())
    with pytest.raises(ValidationError, match="frozen"):
        workflow.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize("mode", ["validation", "serialization"])
def test_the_json_schema_is_complete(mode: str) -> None:
    schema = WorkflowDefinition.model_json_schema(mode=mode)  # type: ignore[arg-type]
    json.dumps(schema)
    actions = schema["properties"]["actions"]["items"]
    assert len(actions["oneOf"]) == 20
    assert "errorHandling" in schema["properties"]


FIRST_IMPORTS = """
import importlib, sys
for module in sys.argv[1:]:
    for name in [n for n in sys.modules if n == "shared" or n.startswith("shared.")]:
        del sys.modules[name]
    importlib.import_module(module)
"""


def test_each_module_can_be_imported_first() -> None:
    modules = [
        "shared.workflows",
        "shared.workflows.model",
        "shared.workflows.actions",
        "shared.workflows.conditions",
        "shared.workflows.templates",
        "shared.workflows.limits",
        "shared.contracts",
        "shared.contracts.workflows",
        "shared.contracts.executions",
        "shared.contracts.envelope",
    ]
    completed = subprocess.run(
        [sys.executable, "-c", FIRST_IMPORTS, *modules], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
