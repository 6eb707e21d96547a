"""Conditions compiled for the index: plain atoms and groups, their DNF, and how each is indexed.

A workflow's ``ConditionGroup`` is compiled once per version into ``Atom``s (one rule: field
path, operator, value) joined by ``Group``s — small slotted objects instead of a pydantic model
per workflow. ``holds`` evaluates them with the one evaluator's ``rule_holds`` and
``field_value`` (``shared.workflows.conditions``), so a compiled condition means exactly what the
model means; the property tests hold the two to that.

How an atom can be found without evaluating it (``access``): ``equals`` and ``in`` by the value
(numbers numerically, booleans apart from numbers, strings as they are), ``greater_than`` and
``less_than`` by a threshold in a sorted table (numbers, or ISO instants as integer
microseconds); ``contains`` and ``is_not_empty`` only by the field being present, which they
need but which does not decide them. The negations (``not_equals``, ``not_in``,
``not_contains``) and ``is_empty`` are true when the field is missing, so no index entry can
stand for them: they are evaluated on candidates only.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any, Final, Literal, get_args

from shared.workflows.conditions import (
    ConditionGroup,
    Operator,
    Rule,
    field_value,
    parse_instant,
    rule_holds,
)

MAX_TERMS: Final = 32
"""Most conjunctions a condition's DNF may have before it is indexed by a necessary set."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

Table = Literal["strings", "numbers", "booleans", "above", "below", "after", "before", "present"]
"""Where an atom is posted in a field's index (see ``index._Field``)."""

Slot = tuple[Table, Any]
"""One posting of an atom: its table and key (None for ``present``)."""

_OPERATORS: Final[dict[str, Operator]] = {name: name for name in get_args(Operator)}
"""Each operator's one string object, shared by every atom."""


def instant_key(value: object) -> int | None:
    """An ISO date/datetime string as integer microseconds since the epoch, else None.

    Integers compare exactly as the instants do (``datetime`` has microsecond resolution).
    """
    instant = parse_instant(value)
    return None if instant is None else (instant - _EPOCH) // _MICROSECOND


def is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def equality_slot(value: object) -> Slot | None:
    """Where an ``equals`` value is posted, so that an actual value finds it by one lookup.

    ``_same`` in the evaluator: booleans equal booleans only, numbers compare numerically
    (``3`` and ``3.0`` are one key), strings by value; anything else is not indexable.
    """
    if type(value) is str:
        return ("strings", value)
    if type(value) is bool:
        return ("booleans", value)
    if is_number(value) and not (type(value) is float and math.isnan(value)):
        return ("numbers", value)
    return None


@dataclass(frozen=True, slots=True)
class Atom:
    """One rule: ``operator`` applied to the value at ``path`` in the event's data."""

    path: str
    operator: Operator
    value: Any

    def holds(self, data: Mapping[str, Any]) -> bool:
        return rule_holds(self.operator, field_value(data, self.path), self.value)

    def access(self) -> tuple[bool, list[Slot]] | None:  # noqa: PLR0911 - one answer per operator family
        """How the index finds this atom: ``(exact, slots)``, or None when it cannot.

        An event satisfies at most one slot of an atom. ``exact`` means a hit on a slot is the
        atom holding; otherwise a hit only makes the event a candidate.
        """
        operator, value = self.operator, self.value
        if operator == "equals":
            slot = equality_slot(value)
            return None if slot is None else (True, [slot])
        if operator == "in":
            if not isinstance(value, list) or not value:
                return None
            slots: dict[Slot, None] = {}
            for item in value:
                slot = equality_slot(item)
                if slot is None:
                    return None
                slots[slot] = None  # 3 and 3.0 are one slot: an event hits it once
            return True, list(slots)
        if operator in ("greater_than", "less_than"):
            return self._range_access()
        if operator in ("contains", "is_not_empty"):
            return False, [("present", None)]
        return None

    def _range_access(self) -> tuple[bool, list[Slot]] | None:
        above = self.operator == "greater_than"
        if is_number(self.value):
            return (
                (True, [("above" if above else "below", self.value)])
                if self.value == self.value
                else None
            )
        key = instant_key(self.value)
        if key is None:
            return None  # the evaluator's answer is always false; verified like a negation
        return True, [("after" if above else "before", key)]


@dataclass(frozen=True, slots=True)
class Group:
    """``parts`` joined by OR (``any``) or AND."""

    any: bool
    parts: tuple[Atom | Group, ...]


Condition = Atom | Group


def compile_condition(group: ConditionGroup) -> Group:
    """The condition as atoms and groups; paths and operators are interned (a million workflows
    share a few dozen of each)."""
    parts: list[Atom | Group] = []
    for rule in group.rules:
        if isinstance(rule, Rule):
            parts.append(Atom(sys.intern(rule.field), _OPERATORS[rule.operator], rule.value))
        else:
            parts.append(compile_condition(rule))
    return Group(group.logic == "OR", tuple(parts))


def holds(condition: Condition, data: Mapping[str, Any]) -> bool:
    """Whether ``data`` satisfies ``condition`` — ``shared.workflows.evaluate``'s answer."""
    if isinstance(condition, Atom):
        return condition.holds(data)
    # Loops rather than any()/all() over generators: this runs for every candidate.
    if condition.any:
        for part in condition.parts:  # noqa: SIM110
            if holds(part, data):
                return True
        return False
    for part in condition.parts:  # noqa: SIM110
        if not holds(part, data):
            return False
    return True


def terms(condition: Condition, limit: int = MAX_TERMS) -> list[tuple[Atom, ...]] | None:
    """The condition in disjunctive normal form (OR of ANDs of atoms), or None past ``limit``."""
    if isinstance(condition, Atom):
        return [(condition,)]
    expanded: list[list[tuple[Atom, ...]]] = []
    for part in condition.parts:
        part_terms = terms(part, limit)
        if part_terms is None:
            return None
        expanded.append(part_terms)
    if condition.any:
        flat = [term for part_terms in expanded for term in part_terms]
        return flat if len(flat) <= limit else None
    size = 1
    for part_terms in expanded:
        size *= len(part_terms)
        if size > limit:
            return None
    return [
        tuple(atom for term in combination for atom in term) for combination in product(*expanded)
    ]


def atoms(condition: Condition) -> Iterator[Atom]:
    """Every atom of ``condition``, in document order."""
    if isinstance(condition, Atom):
        yield condition
        return
    for part in condition.parts:
        yield from atoms(part)
