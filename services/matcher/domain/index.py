"""The workflow index: which active workflows an event triggers, at the cost of what it matches.

Per tenant and trigger, each workflow version is compiled once (``predicates``) into entries,
one per conjunction of its condition's DNF. Each entry is posted under one *access atom* — the
atom of its conjunction expected to make the fewest candidates, chosen from the sizes of the
postings when it is added — in a trie of field paths whose nodes hold a field's tables:

- ``strings``, ``numbers``, ``booleans``: ``equals`` and ``in`` by value (one dict lookup);
- ``above``/``below`` (numbers) and ``after``/``before`` (ISO instants): ``greater_than`` and
  ``less_than`` thresholds kept sorted, so an event's value finds the satisfied ones by
  bisection;
- ``present``: ``contains`` and ``is_not_empty``, which need the field but are not decided by it.

An event walks the trie along the fields it has (never along the ones it lacks), collects the
entries it hits, and only those are verified: the rest of the conjunction, or the whole
condition. A conjunction with no indexable atom (only negations or ``is_empty``), and a
workflow without conditions, are *always candidates* of their trigger. A condition whose DNF
would exceed ``MAX_TERMS`` conjunctions is posted under a set of atoms one of which must hold
whenever it does (its *necessary set*), and verified whole.

Memory: a workflow is its compiled condition, its entries and the changelog record's bytes;
the definition (a pydantic model, ~8 KB) is parsed from those bytes when an execution request
is built, and the most recent ones are cached.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sortedcontainers import SortedDict

from services.matcher.domain.predicates import (
    MAX_TERMS,
    Atom,
    Group,
    Slot,
    Table,
    atoms,
    compile_condition,
    holds,
    instant_key,
    terms,
)
from shared.contracts import CloudEvent, TriggerType, WorkflowChange, WorkflowDefinition
from shared.contracts.envelope import HOOK_SOURCE, TENANT_ID_PATTERN
from shared.contracts.workflows import WorkflowId
from shared.workflows.conditions import ConditionGroup
from shared.workflows.model import WorkflowStatus, status_from_active

TARGETED_TRIGGERS: frozenset[TriggerType] = frozenset(
    {"schedule.cron", "webhook.received", "workflow.triggered"}
)
"""Triggers whose events may name the one workflow they are for in ``subject`` (``targets``).

A ``schedule.cron`` event always targets one workflow (without a subject it triggers none); so
does a ``webhook.received`` event from a workflow's inbound hook (source ``hook``), while other
``webhook.received`` events (vendor events without a seed trigger, whose subject is an account
or an agreement) match every workflow with that trigger by its conditions; a
``workflow.triggered`` event targets the workflow in its subject when it has one, and every
workflow with that trigger otherwise.
"""


def targets(event: CloudEvent) -> bool:
    """Whether ``event`` is for the one workflow its ``subject`` names (none, without one)."""
    if event.type not in TARGETED_TRIGGERS:
        return False
    if event.type == "webhook.received":
        return event.source == HOOK_SOURCE
    return event.type == "schedule.cron" or event.subject is not None


DEFINITION_CACHE_SIZE: Final = 16_384
"""Parsed definitions kept for the workflows matched most recently (about 8 KB each, so at
most ~130 MB): a miss costs a full parse (~85 µs), more than matching an event."""


class UnreadableWorkflow(ValueError):
    """A workflow's stored definition does not parse as a ``WorkflowDefinition`` any more."""


@dataclass(eq=False, slots=True)
class Workflow:
    """An active workflow at the version the matcher knows: compiled, not parsed."""

    tenant_id: str
    id: str
    version: int
    trigger: TriggerType
    condition: Group | None
    record: bytes
    """The changelog record it was read from; ``definition()`` parses it."""
    entries: tuple[_Entry, ...] = ()

    def definition(self) -> WorkflowDefinition:
        """The full definition; raises ``UnreadableWorkflow`` if it does not validate."""
        return _definition(self.record)


@functools.lru_cache(maxsize=DEFINITION_CACHE_SIZE)
def _definition(record: bytes) -> WorkflowDefinition:
    try:
        definition = WorkflowChange.model_validate_json(record).workflow
    except ValidationError as error:
        raise UnreadableWorkflow(str(error)) from None
    if definition is None:  # excluded: only active workflows are indexed
        raise UnreadableWorkflow("the record removes the workflow")
    return definition


@dataclass(eq=False, slots=True)
class _Entry:
    """One conjunction of a workflow, posted under ``access`` (None: an always candidate).

    ``check`` is what a candidate must still satisfy: the conjunction's other atoms (a tuple),
    the whole condition (a ``Group``, for the necessary-set entries), or nothing (None).
    """

    workflow: Workflow
    access: Atom | None
    check: tuple[Atom, ...] | Group | None


Posting = Any
"""An ``_Entry``, or a ``dict[_Entry, None]`` when several share a key (most keys have one)."""


def _add(table: Any, key: Any, entry: _Entry) -> None:
    current = table.get(key)
    if current is None:
        table[key] = entry
    elif type(current) is dict:
        current[entry] = None
    else:
        table[key] = {current: None, entry: None}


def _discard(table: Any, key: Any, entry: _Entry) -> None:
    current = table.get(key)
    if current is entry:
        del table[key]
    elif type(current) is dict:
        current.pop(entry, None)
        if len(current) == 1:
            table[key] = next(iter(current))


def _size(posting: Posting) -> int:
    if posting is None:
        return 0
    return len(posting) if type(posting) is dict else 1


def _extend(out: list[_Entry], posting: Posting) -> None:
    if posting is None:
        return
    if type(posting) is dict:
        out.extend(posting)
    else:
        out.append(posting)


_SORTED_TABLES: Final[frozenset[Table]] = frozenset({"above", "below", "after", "before"})


class _Field:
    """The entries posted on one field path, by table (None until one is posted there)."""

    __slots__ = (
        "above",
        "after",
        "before",
        "below",
        "booleans",
        "count",
        "numbers",
        "present",
        "strings",
    )

    def __init__(self) -> None:
        self.strings: dict[str, Posting] | None = None
        self.numbers: dict[int | float, Posting] | None = None
        self.booleans: dict[bool, Posting] | None = None
        self.above: SortedDict | None = None
        self.below: SortedDict | None = None
        self.after: SortedDict | None = None
        self.before: SortedDict | None = None
        self.present: dict[_Entry, None] | None = None
        self.count = 0

    def table(self, name: Table) -> Any:
        table = getattr(self, name)
        if table is None:
            table = SortedDict() if name in _SORTED_TABLES else {}
            setattr(self, name, table)
        return table

    def post(self, slot: Slot, entry: _Entry) -> None:
        name, key = slot
        if name == "present":
            self.table(name)[entry] = None
        else:
            _add(self.table(name), key, entry)
        self.count += 1

    def unpost(self, slot: Slot, entry: _Entry) -> None:
        name, key = slot
        table = getattr(self, name)
        if table is None:
            return
        if name == "present":
            table.pop(entry, None)
        else:
            _discard(table, key, entry)
        if not table:
            setattr(self, name, None)
        self.count -= 1

    def postings(self, slots: list[Slot]) -> int:
        """How many entries share these slots already."""
        name = slots[0][0]
        table = getattr(self, name)
        if not table:
            return 0
        if name == "present" or name in _SORTED_TABLES:
            return len(table)
        return sum(_size(table.get(key)) for _, key in slots)

    def collect(self, value: Any, out: list[_Entry]) -> None:
        """Append the entries that ``value`` (not missing) hits on this field."""
        kind = type(value)
        if kind is str:
            if self.strings is not None:
                _extend(out, self.strings.get(value))
            if self.after is not None or self.before is not None:
                instant = instant_key(value)
                if instant is not None:
                    _thresholds(self.after, self.before, instant, out)
        elif kind is bool:
            if self.booleans is not None:
                _extend(out, self.booleans.get(value))
        elif kind is int or (kind is float and not math.isnan(value)):  # NaN equals nothing
            if self.numbers is not None:
                _extend(out, self.numbers.get(value))
            if self.above is not None or self.below is not None:
                _thresholds(self.above, self.below, value, out)
        if self.present is not None:
            out.extend(self.present)


def _thresholds(
    above: SortedDict | None, below: SortedDict | None, value: Any, out: list[_Entry]
) -> None:
    """Entries of ``greater_than`` thresholds under ``value`` and ``less_than`` ones over it."""
    if above:
        for posting in above.values()[: above.bisect_left(value)]:
            _extend(out, posting)
    if below:
        for posting in below.values()[below.bisect_right(value) :]:
            _extend(out, posting)


class _Node:
    """A field-path trie node: the field ending here, and the longer paths through it."""

    __slots__ = ("children", "field", "position")

    def __init__(self, segment: str) -> None:
        self.children: dict[str, _Node] = {}
        self.field: _Field | None = None
        # Where this segment indexes a list: the evaluator's rule for a list step.
        self.position = int(segment) if segment.isascii() and segment.isdigit() else None


def _walk(node: _Node, value: Any, out: list[_Entry]) -> None:
    """Collect the entries ``value`` hits at ``node`` and below, visiting only the paths that
    both the event and the index have (each step looks up the smaller side in the larger)."""
    if node.field is not None:
        node.field.collect(value, out)
    children = node.children
    if not children:
        return
    if isinstance(value, Mapping):
        if len(children) <= len(value):
            for segment, child in children.items():
                if segment in value:
                    inner = value[segment]
                    if inner is not None:
                        _walk(child, inner, out)
        else:
            for segment, inner in value.items():
                found = children.get(segment)
                if found is not None and inner is not None:
                    _walk(found, inner, out)
    elif isinstance(value, list | tuple):
        _walk_items(children, value, out)


def _walk_items(
    children: dict[str, _Node], items: list[Any] | tuple[Any, ...], out: list[_Entry]
) -> None:
    length = len(items)
    for child in children.values():
        position = child.position
        if position is not None and position < length:
            inner = items[position]
            if inner is not None:
                _walk(child, inner, out)


class _Scope:
    """The active workflows of one tenant with one trigger."""

    __slots__ = ("always", "by_id", "root", "values")

    def __init__(self) -> None:
        self.root = _Node("")
        self.always: dict[_Entry, None] = {}
        self.by_id: dict[str, Workflow] = {}
        self.values: dict[str, set[Slot]] = {}
        """Distinct ``equals``/``in`` values seen per path (up to ``_CARDINALITY_CAP``), in
        every rule of every workflow: how selective an equality on that path is likely to be."""

    def node(self, path: str, *, create: bool = False) -> list[_Node] | None:
        """The nodes from the root to ``path``'s node; None if absent and not ``create``."""
        nodes = [self.root]
        for segment in path.split("."):
            children = nodes[-1].children
            child = children.get(segment)
            if child is None:
                if not create:
                    return None
                child = children[segment] = _Node(segment)
            nodes.append(child)
        return nodes

    def observe(self, condition: Group) -> None:
        """Count the distinct equality values of ``condition``'s rules, per path."""
        for atom in atoms(condition):
            if atom.operator not in ("equals", "in"):
                continue
            access = atom.access()
            seen = self.values.setdefault(atom.path, set())
            if access is not None and len(seen) < _CARDINALITY_CAP:
                seen.update(access[1])

    def cost(self, atom: Atom, slots: list[Slot]) -> tuple[float, int, int]:
        """What posting ``atom`` under ``slots`` is expected to cost: the chance that an event
        hits it, its kind's rank (equality, range, presence), the entries already there.

        An equality on a path with *d* distinct values is hit by about one event in *d*; a
        threshold by about half of them; a presence test by every event that has the field.
        """
        nodes = self.node(atom.path)
        field = nodes[-1].field if nodes is not None else None
        postings = 0 if field is None else field.postings(slots)
        name = slots[0][0]
        if name == "present":
            return 1.0, 2, postings
        if name in _SORTED_TABLES:
            return 0.5, 1, postings
        distinct = len(self.values.get(atom.path, ()))
        return min(1.0, len(slots) / (distinct + 1)), 0, postings

    def post(self, entry: _Entry) -> None:
        atom = entry.access
        access = atom.access() if atom is not None else None
        if atom is None or access is None:
            self.always[entry] = None
            return
        nodes = self.node(atom.path, create=True)
        assert nodes is not None  # create=True always gives nodes
        node = nodes[-1]
        if node.field is None:
            node.field = _Field()
        for slot in access[1]:
            node.field.post(slot, entry)

    def unpost(self, entry: _Entry) -> None:
        atom = entry.access
        access = atom.access() if atom is not None else None
        if atom is None or access is None:
            self.always.pop(entry, None)
            return
        nodes = self.node(atom.path)
        if nodes is None or nodes[-1].field is None:
            return
        field = nodes[-1].field
        for slot in access[1]:
            field.unpost(slot, entry)
        if field.count <= 0:
            nodes[-1].field = None
        segments = atom.path.split(".")
        for depth in range(len(segments), 0, -1):  # prune the branch that is empty now
            node = nodes[depth]
            if node.field is not None or node.children:
                break
            del nodes[depth - 1].children[segments[depth - 1]]

    def candidates(self, data: Mapping[str, Any]) -> list[_Entry]:
        out = list(self.always)
        _walk(self.root, data, out)
        return out


_CARDINALITY_CAP: Final = 1024

_Rated = tuple[tuple[float, int, int], Atom, tuple[bool, list[Slot]]]
"""An atom with its access and what choosing it costs (``_Scope.cost``)."""


def _rated(scope: _Scope, atom: Atom) -> _Rated | None:
    access = atom.access()
    if access is None:
        return None
    return scope.cost(atom, access[1]), atom, access


def _entries(scope: _Scope, workflow: Workflow, max_terms: int) -> list[_Entry]:
    condition = workflow.condition
    if condition is None:
        return [_Entry(workflow, None, None)]
    scope.observe(condition)
    conjunctions = terms(condition, max_terms)
    if conjunctions is None:
        return _necessary_entries(scope, workflow, condition)
    return [_conjunction_entry(scope, workflow, conjunction) for conjunction in conjunctions]


def _conjunction_entry(scope: _Scope, workflow: Workflow, conjunction: tuple[Atom, ...]) -> _Entry:
    rated = [rating for atom in conjunction if (rating := _rated(scope, atom)) is not None]
    if not rated:
        return _Entry(workflow, None, conjunction)
    _, best, (exact, _) = min(rated, key=lambda rating: rating[0])
    rest = tuple(atom for atom in conjunction if atom is not best) if exact else conjunction
    return _Entry(workflow, best, rest or None)


def _necessary_entries(scope: _Scope, workflow: Workflow, condition: Group) -> list[_Entry]:
    chosen = _necessary(scope, condition)
    if chosen is None:
        return [_Entry(workflow, None, condition)]
    return [_Entry(workflow, atom, condition) for _, atom, _ in chosen]


def _necessary(scope: _Scope, condition: Atom | Group) -> list[_Rated] | None:
    """Atoms one of which holds whenever ``condition`` does, as cheap as the sizes allow;
    None when there is no such set of indexable atoms."""
    if isinstance(condition, Atom):
        rating = _rated(scope, condition)
        return None if rating is None else [rating]
    parts = [_necessary(scope, part) for part in condition.parts]
    if condition.any:
        if any(part is None for part in parts):
            return None
        return [rating for part in parts if part is not None for rating in part]
    options = [part for part in parts if part is not None]
    if not options:
        return None
    return min(options, key=lambda option: sum(rating[0][0] for rating in option))


def _verified(candidates: list[_Entry], data: Mapping[str, Any]) -> list[Workflow]:
    matched: dict[Workflow, None] = {}
    checked: set[Workflow] = set()
    for entry in candidates:
        workflow = entry.workflow
        if workflow in matched:
            continue
        check = entry.check
        if check is None:
            matched[workflow] = None
        elif isinstance(check, tuple):
            for atom in check:
                if not atom.holds(data):
                    break
            else:
                matched[workflow] = None
        elif workflow not in checked:
            checked.add(workflow)
            if holds(check, data):
                matched[workflow] = None
    return list(matched)


class _DefinitionView(BaseModel):
    """What the index needs of a definition; the rest stays in the record's bytes."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    trigger: TriggerType
    status: WorkflowStatus = "draft"
    conditions: dict[str, Any] | None = None

    @model_validator(mode="before")
    @classmethod
    def _active_synonym(cls, data: Any) -> Any:
        return status_from_active(data)


class _ChangeView(BaseModel):
    """A ``WorkflowChange`` read for the index (the definition is validated when used)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    tenant_id: str = Field(pattern=TENANT_ID_PATTERN)
    workflow_id: WorkflowId
    version: int = Field(ge=1)
    workflow: _DefinitionView | None


class WorkflowIndex:
    """The latest version of every workflow of some tenants; the active ones indexed.

    ``max_terms`` bounds a condition's DNF (``predicates.MAX_TERMS``); past it the condition is
    indexed by a necessary set and verified whole.

    ``apply`` accepts changelog records in any order and any number of times: the highest
    version of each workflow wins, and a version is remembered after the workflow is deleted or
    paused, so a late or repeated older record never brings it back. Each change updates the
    index incrementally (its cost does not depend on how many workflows there are).
    """

    def __init__(self, *, max_terms: int = MAX_TERMS) -> None:
        self._max_terms = max_terms
        self._versions: dict[str, dict[str, int]] = {}
        self._scopes: dict[str, dict[TriggerType, _Scope]] = {}
        self._active: dict[str, int] = {}

    def __len__(self) -> int:
        """The number of active workflows."""
        return sum(self._active.values())

    def tenant_sizes(self) -> Mapping[str, int]:
        """Active workflows per tenant (tenants with none are left out)."""
        return self._active

    def apply(self, record: bytes) -> bool:
        """Take the changelog record ``record`` into account; False if a newer or equal version
        is already known. Raises ``ValidationError`` (nothing changes) if it is unreadable."""
        change = _ChangeView.model_validate_json(record)
        view = change.workflow
        condition: Group | None = None
        active = view is not None and view.status == "active"
        if view is not None and active and view.conditions is not None:
            condition = compile_condition(ConditionGroup.model_validate(view.conditions))
        tenant_id = sys.intern(change.tenant_id)
        versions = self._versions.setdefault(tenant_id, {})
        known = versions.get(change.workflow_id)
        if known is not None and known >= change.version:
            return False
        versions[change.workflow_id] = change.version
        self._unindex(tenant_id, change.workflow_id)
        if view is not None and active:
            self._index(
                Workflow(
                    tenant_id, change.workflow_id, change.version, view.trigger, condition, record
                )
            )
        return True

    def discard(self, workflow: Workflow) -> None:
        """Stop matching ``workflow`` (its definition turned out unreadable); a newer version
        may bring it back."""
        scope = self._scopes.get(workflow.tenant_id, {}).get(workflow.trigger)
        if scope is not None and scope.by_id.get(workflow.id) is workflow:
            self._unindex(workflow.tenant_id, workflow.id)

    def matching(self, event: CloudEvent) -> list[Workflow]:
        """The active workflows of the event's tenant that ``event`` triggers and whose
        conditions its data meets (each once)."""
        scope = self._scopes.get(event.tenantid, {}).get(event.type)
        if scope is None:
            return []
        data = event.data
        if targets(event):
            target = scope.by_id.get(event.subject) if event.subject else None
            if target is None or (
                target.condition is not None and not holds(target.condition, data)
            ):
                return []
            return [target]
        return _verified(scope.candidates(data), data)

    def _index(self, workflow: Workflow) -> None:
        scopes = self._scopes.setdefault(workflow.tenant_id, {})
        scope = scopes.get(workflow.trigger)
        if scope is None:
            scope = scopes[workflow.trigger] = _Scope()
        entries = _entries(scope, workflow, self._max_terms)
        for entry in entries:
            scope.post(entry)
        workflow.entries = tuple(entries)
        scope.by_id[workflow.id] = workflow
        self._active[workflow.tenant_id] = self._active.get(workflow.tenant_id, 0) + 1

    def _unindex(self, tenant_id: str, workflow_id: str) -> None:
        scopes = self._scopes.get(tenant_id)
        if scopes is None:
            return
        for trigger, scope in scopes.items():
            workflow = scope.by_id.pop(workflow_id, None)
            if workflow is None:
                continue
            for entry in workflow.entries:
                scope.unpost(entry)
            workflow.entries = ()
            if not scope.by_id:
                del scopes[trigger]
                if not scopes:
                    del self._scopes[tenant_id]
            remaining = self._active[tenant_id] - 1
            if remaining:
                self._active[tenant_id] = remaining
            else:
                del self._active[tenant_id]
            return

    def structure_size(self) -> int:
        """Trie nodes, postings and always candidates held (zero when nothing is active)."""
        total = 0
        for scopes in self._scopes.values():
            for scope in scopes.values():
                total += len(scope.always)
                pending = list(scope.root.children.values())
                while pending:
                    node = pending.pop()
                    total += 1 + (node.field.count if node.field is not None else 0)
                    pending.extend(node.children.values())
        return total
