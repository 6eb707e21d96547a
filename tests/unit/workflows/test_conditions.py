"""Conditions: every operator's semantics (missing fields, nulls, type mismatches), both shapes,
nesting, limits, the save-time checks and the dry-run explanation."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from shared.workflows import (
    ConditionGroup,
    Operator,
    Rule,
    WorkflowDefinition,
    evaluate,
    explain,
)
from shared.workflows.conditions import MISSING, field_value, rule_holds
from shared.workflows.limits import (
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    MAX_CONDITION_STRING_LENGTH,
    MAX_FIELD_PATH_SEGMENTS,
    MAX_IN_LIST,
)
from tests.unit.workflows.jsonpath import json_paths


def holds(field: str, operator: str, value: Any, data: dict[str, Any]) -> bool:
    rule = Rule.model_validate({"field": field, "operator": operator, "value": value})
    return evaluate(rule, data)


def group(*rules: dict[str, Any], logic: str = "AND") -> ConditionGroup:
    return ConditionGroup.model_validate({"logic": logic, "rules": list(rules)})


def rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"field": field, "operator": operator}
    if value is not None:
        body["value"] = value
    return body


# --- the semantics table ------------------------------------------------------------------------

# (operator, value, actual, expected); MISSING means the field is absent.
SEMANTICS: list[tuple[str, Any, Any, bool]] = [
    # equals: same type and equal; numbers numerically; no coercion; case-sensitive
    ("equals", "aws", "aws", True),
    ("equals", "aws", "AWS", False),
    ("equals", 90, 90, True),
    ("equals", 90, 90.0, True),
    ("equals", 90.5, 90.5, True),
    ("equals", 5, "5", False),
    ("equals", "5", 5, False),
    ("equals", 1, True, False),
    ("equals", True, 1, False),
    ("equals", True, True, True),
    ("equals", "aws", ["aws"], False),
    ("equals", "aws", MISSING, False),
    ("equals", "aws", None, False),
    # not_equals: the negation, so true when missing or of another type
    ("not_equals", "aws", "azure", True),
    ("not_equals", "aws", "aws", False),
    ("not_equals", 5, "5", True),
    ("not_equals", "aws", MISSING, True),
    ("not_equals", "aws", None, True),
    # greater_than / less_than: numbers, or ISO dates in time; anything else false
    ("greater_than", 100000, 150000, True),
    ("greater_than", 100000, 100000, False),
    ("greater_than", 100000, 100000.5, True),
    ("greater_than", 3, 4, True),
    ("greater_than", 3, "4", False),
    ("greater_than", 0, True, False),
    ("greater_than", 3, [4], False),
    ("greater_than", 3, MISSING, False),
    ("greater_than", 3, None, False),
    ("less_than", 3, 2, True),
    ("less_than", 3, 3, False),
    ("less_than", 3.5, 3, True),
    ("less_than", 3, "abc", False),
    ("less_than", 3, MISSING, False),
    ("greater_than", "2026-12-31", "2027-01-01", True),
    ("greater_than", "2026-12-31", "2026-12-31", False),
    ("less_than", "2026-12-31", "2026-12-30T23:59:59Z", True),
    ("greater_than", "2026-12-31", "2026-12-31T00:00:01Z", True),
    ("greater_than", "2026-12-31T10:00:00+02:00", "2026-12-31T09:00:00Z", True),
    ("less_than", "2026-12-31T10:00:00", "2026-12-31T09:59:59Z", True),
    ("greater_than", "2026-12-31", "not a date", False),
    ("greater_than", "2026-12-31", "2026-13-45", False),
    ("greater_than", "2026-12-31", 20270101, False),
    ("greater_than", 5, "2026-12-31", False),
    # contains: substring of text, item of a list; anything else false
    ("contains", "Corp", "Globex Corp", True),
    ("contains", "corp", "Globex Corp", False),
    ("contains", "vip", ["new", "vip"], True),
    ("contains", 3, [1, 2, 3], True),
    ("contains", 3, [1, 2, 3.0], True),
    ("contains", "3", [1, 2, 3], False),
    ("contains", 3, "123", False),
    ("contains", "x", 5, False),
    ("contains", "x", {"x": 1}, False),
    ("contains", "x", MISSING, False),
    # not_contains: text or list without it, or missing; a mismatch stays false
    ("not_contains", "Corp", "Globex Inc", True),
    ("not_contains", "Corp", "Globex Corp", False),
    ("not_contains", "vip", ["new"], True),
    ("not_contains", "vip", ["vip"], False),
    ("not_contains", "x", MISSING, True),
    ("not_contains", "x", 5, False),
    ("not_contains", 3, "123", False),
    # in / not_in: equals one of them
    ("in", ["aws", "azure"], "aws", True),
    ("in", ["aws", "azure"], "gcp", False),
    ("in", [1, 2], 2.0, True),
    ("in", [1, 2], "1", False),
    ("in", [1], True, False),
    ("in", ["aws"], ["aws"], False),
    ("in", ["aws"], MISSING, False),
    ("not_in", ["aws", "azure"], "gcp", True),
    ("not_in", ["aws", "azure"], "aws", False),
    ("not_in", ["aws"], MISSING, True),
    # is_empty / is_not_empty: missing, null, "", [], {} are empty; 0 and false are values
    ("is_empty", None, MISSING, True),
    ("is_empty", None, None, True),
    ("is_empty", None, "", True),
    ("is_empty", None, [], True),
    ("is_empty", None, {}, True),
    ("is_empty", None, " ", False),
    ("is_empty", None, 0, False),
    ("is_empty", None, False, False),
    ("is_not_empty", None, "x", True),
    ("is_not_empty", None, 0, True),
    ("is_not_empty", None, MISSING, False),
    ("is_not_empty", None, [], False),
]


@pytest.mark.parametrize(("operator", "value", "actual", "expected"), SEMANTICS)
def test_each_operator_means_what_the_table_says(
    operator: str, value: Any, actual: Any, expected: bool
) -> None:
    data = {} if actual is MISSING else {"field": actual}
    assert holds("field", operator, value, data) is expected


def test_every_operator_is_covered_by_the_table() -> None:
    operators = {entry[0] for entry in SEMANTICS}
    assert operators == set(get_args(Operator))


@pytest.mark.parametrize("operator", ["equals", "greater_than", "contains", "in", "is_empty"])
@pytest.mark.parametrize(
    "data", [{"field": object()}, {"field": float("nan")}, {"field": {"a": [1]}}, {"other": 1}]
)
def test_evaluation_never_raises_on_odd_data(operator: str, data: dict[str, Any]) -> None:
    value = {"equals": 1, "greater_than": 1, "contains": "a", "in": [1], "is_empty": None}
    evaluate(Rule.model_validate(rule("field", operator, value[operator])), data)


# --- field paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("customer.tier", "gold"),
        ("customer.contacts.1.email", "b@x.com"),
        ("customer.contacts.2.email", MISSING),
        ("customer.contacts.-1.email", MISSING),
        ("customer.contacts.first", MISSING),
        ("customer.tier.length", MISSING),
        ("customer.__class__", MISSING),
        ("__class__", MISSING),
        ("customer.notes", MISSING),
        ("nope.deeper", MISSING),
    ],
)
def test_field_paths_are_keys_and_list_indexes_only(path: str, expected: Any) -> None:
    data = {
        "customer": {
            "tier": "gold",
            "notes": None,
            "contacts": [{"email": "a@x.com"}, {"email": "b@x.com"}],
        }
    }
    assert field_value(data, path) == expected


def test_dotted_paths_reach_into_event_data() -> None:
    data = {"customer": {"tier": "gold", "seats": 40}}
    assert holds("customer.tier", "equals", "gold", data)
    assert holds("customer.seats", "less_than", 50, data)
    assert not holds("customer.region", "equals", "eu", data)


# --- shapes and logic -----------------------------------------------------------------------------


def test_both_shapes_become_one() -> None:
    rules = [rule("value", "greater_than", 1)]
    seed_builder = ConditionGroup.model_validate({"conditions": rules, "logic": "AND"})
    seed_config = ConditionGroup.model_validate({"logic": "AND", "rules": rules})
    no_logic = ConditionGroup.model_validate({"rules": rules})
    assert seed_builder == seed_config == no_logic
    assert seed_builder.model_dump() == {
        "logic": "AND",
        "rules": [{"field": "value", "operator": "greater_than", "value": 1}],
    }


def test_or_needs_one_and_needs_all() -> None:
    rules = [rule("a", "equals", 1), rule("b", "equals", 2)]
    assert evaluate(group(*rules, logic="OR"), {"a": 1})
    assert not evaluate(group(*rules, logic="AND"), {"a": 1})
    assert evaluate(group(*rules, logic="AND"), {"a": 1, "b": 2})


def test_groups_nest_in_either_shape() -> None:
    condition = ConditionGroup.model_validate(
        {
            "logic": "AND",
            "rules": [
                rule("vendor", "equals", "aws"),
                {
                    "logic": "OR",
                    "conditions": [
                        rule("value", "greater_than", 100000),
                        {"rules": [rule("tier", "equals", "gold"), rule("seats", "less_than", 5)]},
                    ],
                },
            ],
        }
    )
    assert evaluate(condition, {"vendor": "aws", "value": 200000})
    assert evaluate(condition, {"vendor": "aws", "value": 1, "tier": "gold", "seats": 2})
    assert not evaluate(condition, {"vendor": "aws", "value": 1, "tier": "gold", "seats": 9})
    assert not evaluate(condition, {"vendor": "gcp", "value": 200000})
    assert ConditionGroup.model_validate_json(condition.model_dump_json()) == condition


def test_explain_gives_every_rule_its_own_path_and_result() -> None:
    condition = group(
        rule("vendor", "equals", "aws"),
        {"logic": "OR", "rules": [rule("value", "greater_than", 5), rule("notes", "is_empty")]},
    )
    explanation = explain(condition, {"vendor": "aws", "value": 3}, path="$.conditions")
    assert explanation.result
    assert explanation.rules == [
        {
            "path": "$.conditions.rules[0]",
            "field": "vendor",
            "operator": "equals",
            "value": "aws",
            "actual": "aws",
            "result": True,
        },
        {
            "path": "$.conditions.rules[1].rules[0]",
            "field": "value",
            "operator": "greater_than",
            "value": 5,
            "actual": 3,
            "result": False,
        },
        {
            "path": "$.conditions.rules[1].rules[1]",
            "field": "notes",
            "operator": "is_empty",
            "value": None,
            "actual": None,
            "result": True,
        },
    ]


def test_explain_agrees_with_evaluate_and_does_not_short_circuit() -> None:
    condition = group(rule("a", "equals", 1), rule("b", "equals", 2), logic="OR")
    explanation = explain(condition, {"a": 1})
    assert explanation.result is evaluate(condition, {"a": 1}) is True
    assert [r["result"] for r in explanation.rules] == [True, False]


# --- what saving refuses --------------------------------------------------------------------------


def workflow_with(conditions: object) -> dict[str, Any]:
    return {
        "name": "w",
        "trigger": "customer.created",
        "conditions": conditions,
        "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}],
    }


def refusal(conditions: object) -> ValidationError:
    with pytest.raises(ValidationError) as refused:
        WorkflowDefinition.model_validate(workflow_with(conditions))
    return refused.value


@pytest.mark.parametrize(
    ("bad_rule", "message"),
    [
        (rule("region", "in", "eu"), "non-empty list"),
        ({"field": "region", "operator": "in", "value": []}, "non-empty list"),
        (rule("region", "not_in", 3), "non-empty list"),
        (rule("region", "greater_than", "abc"), "number or an ISO date"),
        (rule("region", "less_than", True), "number or an ISO date"),
        (rule("region", "greater_than", [1]), "not a list"),
        (rule("region", "equals", ["eu"]), "not a list"),
        (rule("region", "contains", ["eu"]), "not a list"),
        (rule("region", "is_empty", "x"), "takes no value"),
        (rule("region", "is_not_empty", 0), "takes no value"),
        (rule("region", "equals"), "needs a value"),
        ({"field": "region", "operator": "equals", "value": None}, "needs a value"),
        (rule("region", "equals", {"a": 1}), "string, a number, a boolean"),
        (rule("region", "in", [["eu"]]), "string, a number, a boolean"),
        (rule("region", "greater_than", float("inf")), "finite"),
    ],
)
def test_each_value_must_suit_its_operator(bad_rule: dict[str, Any], message: str) -> None:
    error = refusal({"rules": [rule("ok", "is_empty"), bad_rule]})
    assert json_paths(error) == ["$.conditions.rules[1].value"]
    assert message in str(error)


@pytest.mark.parametrize(
    ("bad_rule", "message"),
    [
        (rule("customerName", "greater_than", 5), "'customerName' is text"),
        (rule("customerName", "equals", 5), "'customerName' is text"),
        (rule("value", "equals", "100000"), "'value' is a number"),
        (rule("value", "contains", "1"), "'value' is a number"),
        (rule("daysUntilExpiry", "in", [30, "60"]), "'daysUntilExpiry' is a number"),
        (rule("contractEndDate", "less_than", 5), "'contractEndDate' is a date"),
    ],
)
def test_rules_on_fields_of_known_type_that_could_never_hold_are_refused(
    bad_rule: dict[str, Any], message: str
) -> None:
    error = refusal({"rules": [bad_rule]})
    assert json_paths(error) == ["$.conditions.rules[0].value"]
    assert message in str(error)


@pytest.mark.parametrize("trigger", ["webhook.received", "workflow.triggered", "schedule.cron"])
def test_events_from_elsewhere_may_carry_any_type_in_a_known_name(trigger: str) -> None:
    body = workflow_with({"rules": [rule("value", "equals", "high")]})
    body["trigger"] = trigger
    if trigger == "schedule.cron":
        body["schedule"] = {"cron": "0 9 * * *"}
    body["actions"] = [
        {"type": "slack", "channel": "#x", "message": '{{#if value == "high"}}!{{/if}}'}
    ]
    WorkflowDefinition.model_validate(body)
    ConditionGroup.model_validate({"rules": [rule("value", "equals", "high")]})


def test_templates_of_product_event_workflows_know_the_field_types_too() -> None:
    body = workflow_with(None)
    body["actions"] = [
        {"type": "slack", "channel": "#x", "message": '{{#if value == "high"}}!{{/if}}'}
    ]
    with pytest.raises(ValidationError) as refused:
        WorkflowDefinition.model_validate(body)
    assert json_paths(refused.value) == ["$.actions[0].slack.message"]
    assert "'value' is a number" in str(refused.value)


@pytest.mark.parametrize(
    "good_rule",
    [
        rule("value", "greater_than", 100000.5),
        rule("value", "in", [1, 2.5]),
        rule("customerName", "contains", "Corp"),
        rule("contractEndDate", "less_than", "2027-01-01"),
        rule("customerEmail", "is_empty"),
        rule("custom", "greater_than", "2027-01-01T00:00:00Z"),
        rule("custom", "equals", False),
    ],
)
def test_rules_that_can_hold_are_accepted(good_rule: dict[str, Any]) -> None:
    WorkflowDefinition.model_validate(workflow_with({"rules": [good_rule]}))


@pytest.mark.parametrize(
    ("conditions", "path", "message"),
    [
        ({"rules": []}, "$.conditions", "at least one rule"),
        ({"conditions": []}, "$.conditions", "at least one rule"),
        ({"rules": [rule("a", "is_empty")], "conditions": []}, "$.conditions", "not both"),
        ({"logic": "XOR", "rules": [rule("a", "is_empty")]}, "$.conditions.logic", "'AND'"),
        ({"logic": "and", "rules": [rule("a", "is_empty")]}, "$.conditions.logic", "'AND'"),
        ({"rules": [5]}, "$.conditions.rules[0]", "a rule"),
        ({"rules": [{"field": "a"}]}, "$.conditions.rules[0].operator", "required"),
        ({"rules": [rule("a", "matches", "x")]}, "$.conditions.rules[0].operator", "equals"),
        ({"rules": [rule("a b", "is_empty")]}, "$.conditions.rules[0].field", "pattern"),
        ({"rules": [rule("a..b", "is_empty")]}, "$.conditions.rules[0].field", "pattern"),
        (
            {"rules": [rule("a", "is_empty") | {"extra": 1}]},
            "$.conditions.rules[0].extra",
            "Extra inputs",
        ),
        (
            {"conditions": [{"logic": "OR", "conditions": [rule("a", "in", "x")]}]},
            "$.conditions.conditions[0].conditions[0].value",
            "list",
        ),
        ([rule("a", "is_empty")], "$.conditions", "dictionary"),
    ],
)
def test_malformed_conditions_are_refused_at_the_users_own_path(
    conditions: object, path: str, message: str
) -> None:
    error = refusal(conditions)
    assert path in json_paths(error)
    assert message in str(error)


def nested(levels: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"rules": [rule("a", "is_empty")]}
    for _ in range(levels - 1):
        condition = {"rules": [condition]}
    return condition


def test_groups_nest_up_to_the_depth_limit() -> None:
    ConditionGroup.model_validate(nested(MAX_CONDITION_DEPTH))
    error = refusal(nested(MAX_CONDITION_DEPTH + 1))
    assert json_paths(error) == ["$.conditions"]
    assert f"at most {MAX_CONDITION_DEPTH} levels" in str(error)


def test_absurd_nesting_is_refused_without_recursing_into_it() -> None:
    error = refusal(nested(5000))
    assert json_paths(error) == ["$.conditions"]


def test_a_condition_holds_up_to_the_node_limit() -> None:
    rules = [rule("a", "is_empty")] * (MAX_CONDITION_NODES - 1)
    ConditionGroup.model_validate({"rules": rules})
    error = refusal({"rules": [*rules, rule("a", "is_empty")]})
    assert f"at most {MAX_CONDITION_NODES} rules and groups" in str(error)


def test_lists_and_strings_and_paths_are_bounded() -> None:
    ConditionGroup.model_validate({"rules": [rule("a", "in", list(range(MAX_IN_LIST)))]})
    assert "at most 1000 values" in str(refusal({"rules": [rule("a", "in", [0] * 1001)]}))
    long = "x" * (MAX_CONDITION_STRING_LENGTH + 1)
    assert "at most 1000 characters" in str(refusal({"rules": [rule("a", "equals", long)]}))
    assert "at most 1000 characters" in str(refusal({"rules": [rule("a", "in", [long])]}))
    deep_path = ".".join(["a"] * (MAX_FIELD_PATH_SEGMENTS + 1))
    assert "segments" in str(refusal({"rules": [rule(deep_path, "is_empty")]}))
    ConditionGroup.model_validate(
        {"rules": [rule(".".join(["a"] * MAX_FIELD_PATH_SEGMENTS), "is_empty")]}
    )


def test_an_action_condition_error_names_the_action() -> None:
    body = workflow_with(None)
    body["actions"][0]["conditions"] = {"rules": [rule("value", "greater_than", "big")]}
    with pytest.raises(ValidationError) as refused:
        WorkflowDefinition.model_validate(body)
    assert json_paths(refused.value) == ["$.actions[0].webhook.conditions.rules[0].value"]


def test_rule_holds_is_the_same_function_templates_use() -> None:
    assert rule_holds("greater_than", 5, 4)
    assert not rule_holds("greater_than", MISSING, 4)
