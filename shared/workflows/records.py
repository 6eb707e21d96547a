"""The product's own record types and the fields a workflow may set on each (seed 003's
"executor whitelisting": a workflow author cannot rewrite arbitrary fields).

``update_record`` and ``create_record`` may set only the fields listed here for their
``recordType``. The config API refuses anything else when a workflow is saved (422 naming the
field), and the executor refuses it again when the step runs (a definition saved before a field
left the list), so the list is the one place that decides. The checks are not part of the
model's validation on purpose: a stored workflow that names a field since removed must stay
readable, so that it can be shown, edited and fixed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from shared.workflows.actions import Action, CreateRecordAction, UpdateRecordAction

RECORD_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "customer": frozenset(
        {"name", "email", "status", "segment", "lifecycleStage", "healthScore", "notes"}
    ),
    "contract": frozenset({"status", "renewalStatus", "endDate", "value", "notes"}),
    "private_offer": frozenset({"status", "discount", "expiresAt", "notes"}),
    "deal": frozenset({"title", "stage", "status", "value", "currency", "probability", "notes"}),
}
"""Each record type, and the fields workflows may set on it. ``deal`` is seed 003's "Update
Deal" list as written; the others are the marketplace records of seed 000."""


@dataclass(frozen=True, slots=True)
class FieldRefusal:
    """A field an action may not set: where it is (below the action) and why."""

    path: str
    message: str


def record_field_refusals(action: Action) -> list[FieldRefusal]:
    """What ``action`` would set that ``RECORD_FIELDS`` does not allow (empty if nothing, and
    for every action that writes no product record)."""
    if not isinstance(action, UpdateRecordAction | CreateRecordAction):
        return []
    allowed = RECORD_FIELDS.get(action.record_type)
    if allowed is None:
        known = ", ".join(sorted(RECORD_FIELDS))
        return [
            FieldRefusal(
                "recordType", f"unknown record type {action.record_type!r}; one of {known}"
            )
        ]
    return [
        FieldRefusal(
            f"mapping.{name}",
            f"{action.record_type} field {name!r} cannot be set by a workflow; "
            f"allowed: {', '.join(sorted(allowed))}",
        )
        for name in action.mapping
        if name not in allowed
    ]
