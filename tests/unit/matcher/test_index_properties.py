"""One engine, one semantics: the index's answer is the plain evaluator's, on generated input.

Hypothesis writes workflows (nested AND/OR groups, all ten operators, numbers, strings,
booleans, lists, ISO dates) and events (missing fields, nulls, nested objects, lists, values of
every type where another is expected). For every event, the workflows the index finds are
exactly those ``shared.workflows.evaluate`` accepts, before and after random changes
(new versions, pauses, deletions); ``explain`` — the dry run's evaluator — agrees with
``evaluate`` on every condition. The executor's per-action conditions call ``evaluate`` itself.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any, get_args

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.matcher.domain import WorkflowIndex
from services.matcher.domain.predicates import MAX_TERMS, compile_condition, holds, terms
from shared.contracts import CloudEvent, WorkflowChange, WorkflowDefinition
from shared.workflows import ConditionGroup, Operator, evaluate, explain

TENANT = "acme"
TRIGGER = "webhook.received"  # carries any fields: no save-time field typing in the way

# Few paths and values, so that rules and events meet often (boundaries included).
PATHS = ["a", "a", "b", "n.x", "n.deep.z", "l.0", "l"]
NUMBERS = st.sampled_from([0, 1, 3, 3.0, 2.5, -0.0, 10**18])
DATES = st.sampled_from(
    [
        "2026-01-01",
        "2026-01-01T00:00:00Z",
        "2026-01-01T01:00:00+01:00",
        "2026-06-30T12:00:00",
        "2027-12-31",
    ]
)
STRINGS = st.one_of(
    st.sampled_from(["aws", "AWS", "", "3", "Globex Corp", "Globex"]),
    DATES,
)
SCALARS = st.one_of(NUMBERS, STRINGS, st.booleans())


def rules() -> st.SearchStrategy[dict[str, Any]]:
    path = st.sampled_from(PATHS)
    with_scalar = st.builds(
        lambda field, operator, value: {"field": field, "operator": operator, "value": value},
        path,
        st.sampled_from(["equals", "not_equals", "contains", "not_contains"]),
        SCALARS,
    )
    compared = st.builds(
        lambda field, operator, value: {"field": field, "operator": operator, "value": value},
        path,
        st.sampled_from(["greater_than", "less_than"]),
        st.one_of(NUMBERS, DATES),
    )
    listed = st.builds(
        lambda field, operator, value: {"field": field, "operator": operator, "value": value},
        path,
        st.sampled_from(["in", "not_in"]),
        st.lists(SCALARS, min_size=1, max_size=4),
    )
    unary = st.builds(
        lambda field, operator: {"field": field, "operator": operator},
        path,
        st.sampled_from(["is_empty", "is_not_empty"]),
    )
    return st.one_of(with_scalar, compared, listed, unary)


def groups(depth: int = 1) -> st.SearchStrategy[dict[str, Any]]:
    """A condition group nested at most four levels (the model allows five)."""
    child = (
        rules()
        if depth >= 4
        else st.one_of(rules(), rules(), st.deferred(lambda: groups(depth + 1)))
    )
    return st.builds(
        lambda logic, parts, spelling: {"logic": logic, spelling: parts},
        st.sampled_from(["AND", "OR"]),
        st.lists(child, min_size=1, max_size=4),
        st.sampled_from(["rules", "conditions"]),  # both seed shapes
    )


CONDITIONS = st.one_of(st.none(), groups(), groups(), groups(), groups())


def event_data(seen: list[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Event data whose values are often the very values the rules compare with (boundaries:
    ``3 greater_than 3``, ``3.0 equals 3``, the same instant in two offsets)."""
    pool = [v for value in seen for v in (value if isinstance(value, list) else [value])]
    scalars = st.one_of(st.sampled_from(pool), SCALARS) if pool else SCALARS
    values = st.one_of(
        scalars,
        scalars,
        st.none(),
        st.lists(scalars, max_size=3),
        st.dictionaries(st.sampled_from(["x", "y"]), scalars, max_size=2),
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "a": values,
            "b": values,
            "n": st.one_of(
                st.none(),
                scalars,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "x": values,
                        "deep": st.one_of(
                            st.none(), st.fixed_dictionaries({}, optional={"z": values})
                        ),
                    },
                ),
            ),
            "l": st.one_of(st.none(), scalars, st.lists(scalars, max_size=3)),
        },
    )


def rule_values(condition: dict[str, Any] | None) -> list[Any]:
    if condition is None:
        return []
    if "field" in condition:
        return [condition["value"]] if "value" in condition else []
    parts = condition.get("rules", condition.get("conditions", []))
    return [value for part in parts for value in rule_values(part)]


def definition(conditions: dict[str, Any] | None, status: str = "active") -> WorkflowDefinition:
    body: dict[str, Any] = {
        "name": "generated",
        "trigger": TRIGGER,
        "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}],
        "status": status,
    }
    if conditions is not None:
        body["conditions"] = conditions
    return WorkflowDefinition.model_validate(body)


def record(workflow_id: str, version: int, workflow: WorkflowDefinition | None) -> bytes:
    return (
        WorkflowChange(
            tenant_id=TENANT,
            workflow_id=workflow_id,
            version=version,
            workflow=workflow,
            changed_at=datetime(2026, 11, 21, tzinfo=UTC),
        )
        .model_dump_json(by_alias=True)
        .encode()
    )


def expected(workflows: dict[str, WorkflowDefinition], data: dict[str, Any]) -> set[str]:
    return {
        workflow_id
        for workflow_id, workflow in workflows.items()
        if workflow.status == "active"
        and (workflow.conditions is None or evaluate(workflow.conditions, data))
    }


def found(index: WorkflowIndex, data: dict[str, Any]) -> set[str]:
    event = CloudEvent(id="evt", source="test", type=TRIGGER, tenantid=TENANT, data=data)
    matched = index.matching(event)
    assert len(matched) == len({workflow.id for workflow in matched}), "a workflow twice"
    return {workflow.id for workflow in matched}


CHANGES = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=29),
        st.sampled_from(["revise", "pause", "delete", "revise"]),
        CONDITIONS,
    ),
    max_size=15,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    conditions=st.lists(CONDITIONS, min_size=1, max_size=30),
    changes=CHANGES,
    max_terms=st.sampled_from([MAX_TERMS, 1]),  # 1: every OR is indexed by a necessary set
    data=st.data(),
)
def test_the_index_finds_exactly_what_the_evaluator_accepts(
    conditions: list[dict[str, Any] | None],
    changes: list[tuple[int, str, dict[str, Any] | None]],
    max_terms: int,
    data: st.DataObject,
) -> None:
    seen = [value for condition in conditions for value in rule_values(condition)]
    events = data.draw(st.lists(event_data(seen), min_size=1, max_size=6), label="events")
    index = WorkflowIndex(max_terms=max_terms)
    workflows: dict[str, WorkflowDefinition] = {}
    versions: dict[str, int] = {}
    for number, condition in enumerate(conditions):
        workflow_id = f"wf-{number}"
        workflows[workflow_id] = definition(condition)
        versions[workflow_id] = 1
        index.apply(record(workflow_id, 1, workflows[workflow_id]))
    for sample in events:
        assert found(index, sample) == expected(workflows, sample)

    for number, what, condition in changes:
        workflow_id = f"wf-{number % len(conditions)}"
        versions[workflow_id] += 1
        changed: WorkflowDefinition | None
        if what == "delete":
            changed = None
            workflows.pop(workflow_id, None)
        else:
            changed = definition(condition, "paused" if what == "pause" else "active")
            workflows[workflow_id] = changed
        index.apply(record(workflow_id, versions[workflow_id], changed))
    for sample in events:
        assert found(index, sample) == expected(workflows, sample)

    for workflow_id, version in versions.items():
        index.apply(record(workflow_id, version + 1, None))
    assert len(index) == 0
    assert index.structure_size() == 0, "removing every workflow leaves an empty index"


@settings(max_examples=300, deadline=None)
@given(condition=groups(), draw=st.data())
def test_compiled_conditions_the_dry_run_and_the_evaluator_agree(
    condition: dict[str, Any], draw: st.DataObject
) -> None:
    data = draw.draw(event_data(rule_values(condition)), label="data")
    group = ConditionGroup.model_validate(condition)
    answer = evaluate(group, data)

    compiled = compile_condition(group)
    assert holds(compiled, data) == answer
    assert explain(group, data).result == answer
    conjunctions = terms(compiled, limit=10_000)
    assert conjunctions is not None
    assert any(all(atom.holds(data) for atom in term) for term in conjunctions) == answer


def test_a_condition_too_wide_for_its_dnf_is_still_found_exactly() -> None:
    """Seven ORs of two under one AND make 128 conjunctions: indexed by a necessary set, which
    cannot be taken from the OR that a negation can satisfy."""
    negated = {
        "logic": "OR",
        "rules": [
            {"field": "h", "operator": "not_equals", "value": 1},
            {"field": "h", "operator": "equals", "value": 1},
        ],
    }
    pairs = [negated] + [
        {
            "logic": "OR",
            "rules": [
                {"field": f"f{n}", "operator": "equals", "value": n},
                {"field": f"g{n}", "operator": "greater_than", "value": n},
            ],
        }
        for n in range(7)
    ]
    wide = definition({"logic": "AND", "rules": pairs})
    assert wide.conditions is not None
    assert terms(compile_condition(wide.conditions)) is None
    index = WorkflowIndex()
    index.apply(record("wf-wide", 1, wide))

    every_pair = {f"f{n}": n for n in range(7)}
    assert found(index, every_pair) == {"wf-wide"}
    assert found(index, {**every_pair, "f3": 4, "g3": 3}) == set()  # 3 > 3 is false
    assert found(index, {**every_pair, "f3": 4, "g3": 3.5}) == {"wf-wide"}
    assert found(index, {"f0": 0}) == set()
    assert found(index, {**every_pair, "h": 2}) == {"wf-wide"}  # by the negation


OPERATORS = get_args(Operator)
GRID_VALUES: list[Any] = [0, 1, 3, 3.0, 2.5, -0.0, True, False, "aws", "AWS", "", "3", "Globex"]
GRID_VALUES += ["2026-01-01", "2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "2027-12-31"]


def grid_rules() -> list[dict[str, Any]]:
    """Every operator with every value the model lets it take, on a key and on a list item."""
    found_rules: list[dict[str, Any]] = []
    for field, operator in itertools.product(["a", "l.1"], OPERATORS):
        if operator in ("is_empty", "is_not_empty"):
            candidates: list[Any] = [None]
        elif operator in ("in", "not_in"):
            candidates = [[value] for value in GRID_VALUES] + [[3, "3", True], [0, False, ""]]
        else:
            candidates = GRID_VALUES
        for value in candidates:
            rule: dict[str, Any] = {"field": field, "operator": operator}
            if value is not None:
                rule["value"] = value
            try:
                ConditionGroup.model_validate({"rules": [rule]})
            except ValueError:
                continue  # e.g. greater_than "aws": refused when saved
            found_rules.append(rule)
    return found_rules


def test_every_operator_on_every_type_matches_as_the_evaluator_says() -> None:
    """One rule per workflow, every event value against every rule: the boundaries of each
    table (a threshold equal to the value, 3 and 3.0, the same instant in two offsets, booleans
    beside numbers, case) are hit deterministically."""
    rules = grid_rules()
    index = WorkflowIndex()
    workflows: dict[str, WorkflowDefinition] = {}
    for number, rule in enumerate(rules):
        workflows[f"wf-{number}"] = definition({"logic": "AND", "rules": [rule]})
        index.apply(record(f"wf-{number}", 1, workflows[f"wf-{number}"]))
    event_values: list[Any] = [
        *GRID_VALUES,
        None,
        [],
        {},
        [3.0, "aws"],
        ["AWS"],
        {"x": 1},
        "Globex Corp",
    ]
    for value in event_values:
        for data in ({"a": value}, {}, {"b": value}, {"l": [0, value]}, {"l": [value]}):
            assert found(index, data) == expected(workflows, data), (value, data)
