"""Conditions: the rule and group model (both seed shapes, one internal shape) and the evaluator.

A condition is a **group** — ``{"logic": "AND" | "OR", "rules": [...]}`` — whose rules are
**rules** ``{"field", "operator", "value"}`` or groups again. Seed 000 writes a group two ways,
``{"conditions": [...], "logic": "AND"}`` and ``{"logic": "AND", "rules": [...]}``; both are
accepted, ``logic`` defaults to ``AND``, and a group always serializes as ``logic`` + ``rules``.

What a rule means when the workflow runs (``evaluate``; pinned by
``tests/unit/workflows/test_conditions.py``). *actual* is the value at ``field``, a dotted path
into the event's ``data``; a JSON ``null`` counts as missing.

============== ============== ==========================================================
operator       field missing  otherwise
============== ============== ==========================================================
equals         false          same type and equal; numbers compare numerically (``3 ==
                              3.0``), booleans are not numbers, strings are case-sensitive
                              and never coerced (``"5"`` does not equal ``5``)
not_equals     true           not ``equals``
greater_than   false          both numbers: numerically; both ISO dates/datetimes: in time
less_than                     (a date is midnight UTC, a naive datetime is UTC); else false
contains       false          text actual and text value: substring; list actual: an item
                              ``equals`` the value; anything else is a mismatch: false
not_contains   true           text or list actual: not ``contains``; a mismatch: false
in             false          the actual ``equals`` one of the listed values
not_in         true           not ``in``
is_empty       true           ``""``, ``[]`` or ``{}`` (``0`` and ``false`` are values)
is_not_empty   false          not ``is_empty``
============== ============== ==========================================================

Evaluation never raises on data: a path through something that is not an object or a list, a
type mismatch or an unparseable date all make the rule false (or, for the negations whose
question still has an answer — ``not_equals``, ``not_in`` — true).

Saving checks each value against its operator (``in`` needs a list, comparisons need a number or
an ISO date, ``is_empty`` takes no value …) and — for workflows triggered by the product's own
events, whose fields the product documents (``KNOWN_FIELD_TYPES``) — against the field:
``customerName greater_than 5`` is refused when the workflow is saved instead of silently never
matching. Other events (``webhook.received``, ``workflow.triggered``) carry any fields.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypedDict

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shared.workflows.limits import (
    MAX_CONDITION_DEPTH,
    MAX_CONDITION_NODES,
    MAX_CONDITION_STRING_LENGTH,
    MAX_FIELD_PATH_LENGTH,
    MAX_FIELD_PATH_SEGMENTS,
    MAX_IN_LIST,
)

Operator = Literal[
    "equals",
    "not_equals",
    "greater_than",
    "less_than",
    "contains",
    "not_contains",
    "in",
    "not_in",
    "is_empty",
    "is_not_empty",
]
Logic = Literal["AND", "OR"]
Scalar = bool | int | float | str
RuleValue = Scalar | list[Scalar]
FieldType = Literal["number", "date", "text"]

COMPARISONS: Final = frozenset({"greater_than", "less_than"})
LIST_OPERATORS: Final = frozenset({"in", "not_in"})
UNARY_OPERATORS: Final = frozenset({"is_empty", "is_not_empty"})
TEXT_OPERATORS: Final = frozenset({"contains", "not_contains"})

KNOWN_FIELD_TYPES: Final[Mapping[str, FieldType]] = {
    "value": "number",
    "duration": "number",
    "daysUntilExpiry": "number",
    "retryCount": "number",
    "contractStartDate": "date",
    "contractEndDate": "date",
    "customerName": "text",
    "customerEmail": "text",
    "offerName": "text",
    "marketplace": "text",
    "productName": "text",
    "contractId": "text",
    "accountOwnerEmail": "text",
    "dimension": "text",
    "errorMessage": "text",
    "vendor": "text",
}
"""Event fields whose type SPEC §2.1 and seed 000 document, checked against rules when saved."""

_CHECK_FIELD_TYPES: ContextVar[bool] = ContextVar("check_field_types", default=False)


@contextmanager
def known_field_types() -> Iterator[None]:
    """Within this block, rules validated on a field of ``KNOWN_FIELD_TYPES`` must suit its type.

    The workflow definition opens it while it validates itself when its trigger is one of the
    product's events, so that its rules — in conditions, in actions' conditions and in
    templates' ``{{#if}}`` — are checked against the fields those events carry. A context
    variable, because a rule on its own does not know which events it will see.
    """
    token = _CHECK_FIELD_TYPES.set(True)
    try:
        yield
    finally:
        _CHECK_FIELD_TYPES.reset(token)


FIELD_PATH_PATTERN: Final = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*"
"""A dotted path into event data: each segment is an object key, or a list index in digits."""
_FIELD_PATH = re.compile(FIELD_PATH_PATTERN)
_ISO_DATE_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


class _Missing:
    """The value of a field that the data does not have."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def field_value(data: object, path: str) -> Any:
    """The value at dotted ``path`` in ``data``, or ``MISSING``; a JSON null is ``MISSING`` too.

    Each segment is a key of a mapping, or a decimal index into a list. Nothing else is looked at:
    no attributes, no methods, so ``__class__`` is just a key that is not there.
    """
    current: Any = data
    for segment in path.split("."):
        if isinstance(current, Mapping):
            if segment not in current:
                return MISSING
            current = current[segment]
        elif isinstance(current, list | tuple) and _is_index(segment, len(current)):
            current = current[int(segment)]
        else:
            return MISSING
    return MISSING if current is None else current


def _is_index(segment: str, length: int) -> bool:
    return segment.isascii() and segment.isdigit() and int(segment) < length


def is_field_path(text: str) -> bool:
    """Whether ``text`` is a dotted field path within the length limits."""
    return (
        len(text) <= MAX_FIELD_PATH_LENGTH
        and text.count(".") < MAX_FIELD_PATH_SEGMENTS
        and _FIELD_PATH.fullmatch(text) is not None
    )


def parse_instant(value: object) -> datetime | None:
    """``value`` as an aware datetime if it is an ISO 8601 date or datetime string, else None.

    A date is midnight UTC of that day; a datetime without an offset is UTC.
    """
    if not isinstance(value, str) or not _ISO_DATE_START.match(value):
        return None
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same(actual: object, expected: object) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if _is_number(actual) and _is_number(expected):
        return actual == expected
    return type(actual) is type(expected) and actual == expected


def _order(actual: object, expected: object) -> int | None:
    """-1, 0 or 1 as ``actual`` is before, at or after ``expected``; None when not comparable."""
    left: Any
    right: Any
    if _is_number(actual) and _is_number(expected):
        left, right = actual, expected
    else:
        left, right = parse_instant(actual), parse_instant(expected)
        if left is None or right is None:
            return None
    return int(left > right) - int(left < right)


def _contains(actual: object, expected: object) -> bool | None:
    """Whether ``actual`` contains ``expected``; None when the question does not apply."""
    if isinstance(actual, str):
        return expected in actual if isinstance(expected, str) else None
    if isinstance(actual, list | tuple):
        return any(_same(item, expected) for item in actual)
    return None


def _is_empty(actual: object) -> bool:
    return actual is MISSING or (isinstance(actual, str | list | tuple | Mapping) and not actual)


def rule_holds(operator: Operator, actual: Any, expected: Any) -> bool:  # noqa: PLR0911 - one return per operator reads as the table
    """Whether ``actual`` (``MISSING`` for a missing field) satisfies ``operator`` ``expected``."""
    missing = actual is MISSING
    if operator == "is_empty":
        return _is_empty(actual)
    if operator == "is_not_empty":
        return not _is_empty(actual)
    if operator == "equals":
        return not missing and _same(actual, expected)
    if operator == "not_equals":
        return missing or not _same(actual, expected)
    if operator == "in":
        return not missing and any(_same(actual, item) for item in expected)
    if operator == "not_in":
        return missing or not any(_same(actual, item) for item in expected)
    if operator == "contains":
        return not missing and _contains(actual, expected) is True
    if operator == "not_contains":
        return missing or _contains(actual, expected) is False
    order = None if missing else _order(actual, expected)
    if order is None:
        return False
    return order > 0 if operator == "greater_than" else order < 0


def _checked_value(value: Any) -> Any:
    """A rule value is a JSON scalar or a list of them, within the size limits."""
    if value is None:
        return value
    if isinstance(value, list):
        if len(value) > MAX_IN_LIST:
            raise PydanticCustomError(
                "too_many_values", "a list holds at most {limit} values", {"limit": MAX_IN_LIST}
            )
        for item in value:
            _checked_scalar(item)
        return value
    _checked_scalar(value)
    return value


def _checked_scalar(value: Any) -> None:
    if isinstance(value, str):
        if len(value) > MAX_CONDITION_STRING_LENGTH:
            raise PydanticCustomError(
                "value_too_long",
                "a compared string is at most {limit} characters",
                {"limit": MAX_CONDITION_STRING_LENGTH},
            )
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise PydanticCustomError("not_finite", "a number must be finite")
    elif not isinstance(value, bool | int):
        raise PydanticCustomError(
            "rule_value_type", "a value is a string, a number, a boolean or a list of those"
        )


def operand_problem(operator: Operator, value: RuleValue | None) -> str | None:  # noqa: PLR0911 - one answer per operator family
    """Why ``value`` cannot go with ``operator``, or None when it can."""
    if operator in UNARY_OPERATORS:
        return None if value is None else f"{operator!r} takes no value"
    if value is None:
        return f"{operator!r} needs a value"
    if operator in LIST_OPERATORS:
        if not isinstance(value, list) or not value:
            return f'{operator!r} needs a non-empty list of values, e.g. ["aws", "azure"]'
        return None
    if isinstance(value, list):
        return f"{operator!r} compares with one value, not a list (use 'in' for a list)"
    if operator in COMPARISONS and not _is_number(value) and parse_instant(value) is None:
        return f'{operator!r} needs a number or an ISO date such as "2026-12-31"'
    return None


def field_type_problem(field: str, operator: Operator, value: RuleValue | None) -> str | None:
    """Why a rule on a field of known type can never hold as written, or None."""
    kind = KNOWN_FIELD_TYPES.get(field)
    if kind is None or operator in UNARY_OPERATORS or value is None:
        return None
    values = value if isinstance(value, list) else [value]
    if kind == "number":
        fits = operator not in TEXT_OPERATORS and all(_is_number(item) for item in values)
        advice = "compare it with numbers (strings are not converted); contains works on text"
    elif kind == "text":
        fits = operator not in COMPARISONS and all(isinstance(item, str) for item in values)
        advice = "compare it with strings; greater_than and less_than compare numbers and dates"
    else:
        fits = all(
            parse_instant(item) is not None if operator in COMPARISONS else isinstance(item, str)
            for item in values
        )
        advice = 'compare it with ISO dates such as "2026-12-31"'
    if fits:
        return None
    return f"{field!r} is {'a ' if kind != 'text' else ''}{kind}, so this rule can never hold: {advice}"


class Rule(BaseModel):
    """One test of one event field: ``{"field": "value", "operator": "greater_than", "value": 1}``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    field: str = Field(
        max_length=MAX_FIELD_PATH_LENGTH,
        pattern=rf"^{FIELD_PATH_PATTERN}$",
        examples=["value", "customer.tier"],
    )
    operator: Operator
    value: Annotated[RuleValue | None, BeforeValidator(_checked_value)] = Field(
        default=None,
        validate_default=True,
        exclude_if=lambda value: value is None,
    )

    @field_validator("field")
    @classmethod
    def _short_path(cls, field: str) -> str:
        if field.count(".") >= MAX_FIELD_PATH_SEGMENTS:
            raise ValueError(f"a field path has at most {MAX_FIELD_PATH_SEGMENTS} segments")
        return field

    @field_validator("value")
    @classmethod
    def _fits_operator_and_field(cls, value: RuleValue | None, info: ValidationInfo) -> Any:
        operator = info.data.get("operator")
        if operator is None:
            return value  # the operator is invalid and reported on its own
        problem = operand_problem(operator, value)
        field = info.data.get("field")
        if problem is None and field is not None and _CHECK_FIELD_TYPES.get():
            problem = field_type_problem(field, operator, value)
        if problem is not None:
            raise ValueError(problem)
        return value


def _as_condition(value: Any) -> Any:
    """Route one item of ``rules`` to ``Rule`` or ``ConditionGroup`` by its keys.

    Validating the chosen model here, rather than through a tagged union, keeps the error paths
    the user's own: ``$.conditions.rules[0].value``, without a union tag in between.
    """
    if not isinstance(value, Mapping):
        if isinstance(value, Rule | ConditionGroup):
            return value
        raise PydanticCustomError(
            "condition_type",
            "a condition is a rule (field, operator, value) or a group (logic, rules)",
        )
    if "field" in value or "operator" in value:
        return Rule.model_validate(value)
    return ConditionGroup.model_validate(value)


def _shape(value: Mapping[Any, Any]) -> tuple[int, int]:
    """Depth and node count of a raw condition tree, counting no further than the limits allow."""
    depth, nodes = 0, 0
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending and depth <= MAX_CONDITION_DEPTH and nodes <= MAX_CONDITION_NODES:
        node, level = pending.pop()
        nodes += 1
        if not isinstance(node, Mapping) or "field" in node or "operator" in node:
            continue
        depth = max(depth, level)
        children = node.get("rules", node.get("conditions"))
        if isinstance(children, list | tuple):
            pending.extend((child, level + 1) for child in children)
    return depth, nodes


class ConditionGroup(BaseModel):
    """Rules joined by ``logic``: every one (``AND``, the default) or any one (``OR``).

    Accepts ``rules`` or the seed's other spelling ``conditions``; serializes as ``rules``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    logic: Logic = "AND"
    rules: list[Annotated[Rule | ConditionGroup, BeforeValidator(_as_condition)]] = Field(
        validation_alias=AliasChoices("rules", "conditions")
    )

    @model_validator(mode="before")
    @classmethod
    def _one_shape_within_limits(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        if "rules" in data and "conditions" in data:
            raise ValueError("a group has 'rules' or 'conditions' (the same thing), not both")
        rules = data.get("rules", data.get("conditions"))
        if isinstance(rules, list | tuple) and not rules:
            raise ValueError(
                "a condition group needs at least one rule; leave 'conditions' out to run "
                "on every event"
            )
        depth, nodes = _shape(data)
        if depth > MAX_CONDITION_DEPTH:
            raise ValueError(f"condition groups nest at most {MAX_CONDITION_DEPTH} levels deep")
        if nodes > MAX_CONDITION_NODES:
            raise ValueError(
                f"a condition holds at most {MAX_CONDITION_NODES} rules and groups in all"
            )
        return data


Condition = Rule | ConditionGroup


def evaluate(condition: Condition, data: Mapping[str, Any]) -> bool:
    """Whether ``data`` (an event's ``data``) satisfies ``condition``. Never raises on data."""
    if isinstance(condition, Rule):
        return rule_holds(condition.operator, field_value(data, condition.field), condition.value)
    outcomes = (evaluate(rule, data) for rule in condition.rules)
    return all(outcomes) if condition.logic == "AND" else any(outcomes)


class RuleResult(TypedDict):
    """How one rule came out in a dry run; ``actual`` is None when the field is missing."""

    path: str
    field: str
    operator: Operator
    value: RuleValue | None
    actual: Any
    result: bool


@dataclass(frozen=True, slots=True)
class Explanation:
    """A condition's result with every rule's own result, in document order.

    Every rule is evaluated, also those that ``AND``/``OR`` would not need, so that a dry run
    shows all of them.
    """

    result: bool
    rules: list[RuleResult]


def explain(condition: Condition, data: Mapping[str, Any], *, path: str = "$") -> Explanation:
    """``evaluate`` with each rule's result; ``path`` is the condition's JSON path in its
    definition (``$.conditions``, ``$.actions[2].conditions``), prefixed to each rule's path."""
    if isinstance(condition, Rule):
        actual = field_value(data, condition.field)
        result = rule_holds(condition.operator, actual, condition.value)
        return Explanation(
            result,
            [
                RuleResult(
                    path=path,
                    field=condition.field,
                    operator=condition.operator,
                    value=condition.value,
                    actual=None if actual is MISSING else actual,
                    result=result,
                )
            ],
        )
    parts = [
        explain(rule, data, path=f"{path}.rules[{index}]")
        for index, rule in enumerate(condition.rules)
    ]
    outcomes = [part.result for part in parts]
    result = all(outcomes) if condition.logic == "AND" else any(outcomes)
    return Explanation(result, [rule for part in parts for rule in part.rules])
