"""An action as it would be performed for an event: every template field rendered."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from shared.workflows.actions import Action
from shared.workflows.templates import render, render_date

DATE_FIELDS = frozenset({"dueDate"})
"""Fields whose whole value is date math (``"+7 days"``, ``"end_of_quarter"``) or a date."""

_LITERAL_FIELDS = frozenset({"type", "conditions"})


@dataclass(frozen=True, slots=True)
class RenderedAction:
    """The action's fields with templates rendered and date fields resolved (ISO strings);
    ``missing`` lists every variable the templates used that the data lacks (once each);
    ``unresolved_dates`` the JSON paths of date fields that did not come out as a date."""

    fields: dict[str, Any]
    missing: list[str] = field(default_factory=list)
    unresolved_dates: list[str] = field(default_factory=list)


def render_action(
    action: Action, data: Mapping[str, Any], now: datetime, tz: str = "UTC"
) -> RenderedAction:
    """Render ``action`` for ``data`` at ``now``. Never raises on data; performs nothing."""
    missing: list[str] = []
    unresolved: list[str] = []

    def walk(value: Any, key: str | None, path: str) -> Any:
        if isinstance(value, dict):
            return {
                k: v if k in _LITERAL_FIELDS else walk(v, k, f"{path}.{k}")
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(item, key, f"{path}[{i}]") for i, item in enumerate(value)]
        if not isinstance(value, str):
            return value
        if key in DATE_FIELDS:
            resolved = render_date(value, data, now, tz)
            if resolved is None:
                unresolved.append(path)
                return None
            return resolved.isoformat() if isinstance(resolved, date | datetime) else resolved
        rendered = render(value, data, now, tz)
        missing.extend(name for name in rendered.missing if name not in missing)
        return rendered.text

    dumped = action.model_dump(mode="json", by_alias=True, exclude_none=True)
    fields = walk(dumped, None, "$")
    return RenderedAction(fields=fields, missing=missing, unresolved_dates=unresolved)
