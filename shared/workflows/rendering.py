"""An action as it would be performed for an event: every template field rendered.

The executor performs what ``render_action`` returns and dry runs show it, so both agree on
every detail: date fields resolved, a mapping value that is one placeholder keeping its type,
and each channel's escaping of what the data puts into its text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final

from shared.workflows.actions import Action
from shared.workflows.conditions import MISSING, field_value
from shared.workflows.templates import Escape, render, render_date, single_variable

DATE_FIELDS = frozenset({"dueDate"})
"""Fields whose whole value is date math (``"+7 days"``, ``"end_of_quarter"``) or a date."""

_LITERAL_FIELDS = frozenset({"type", "conditions"})


def escape_slack(text: str) -> str:
    """Text for Slack's mrkdwn: ``&``, ``<`` and ``>`` escaped, as Slack requires."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_html(text: str) -> str:
    """Text for an HTML document (an e-mail's HTML body), quotes included."""
    return html.escape(text, quote=True)


CHANNEL_ESCAPES: Final[Mapping[str, Escape]] = {"slack": escape_slack}
"""How the text fields of an action type escape what the data puts in them. E-mail HTML bodies
come from templates outside the action and are rendered with ``escape_html``."""


def _typed_fields(action_type: str) -> frozenset[str]:
    """The fields below which a single-placeholder string renders to the value itself."""
    return frozenset({"mapping", "body"}) if action_type == "call_api" else frozenset({"mapping"})


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
    """Render ``action`` for ``data`` at ``now``. Never raises on data; performs nothing.

    - Text fields are rendered, escaped per ``CHANNEL_ESCAPES`` for the action's type.
    - A value inside a ``mapping`` (and inside a ``call_api`` ``body``) that is exactly one
      placeholder, ``"{{value}}"``, is the data's value itself with its JSON type (a number
      stays a number; a missing value is null); any other text renders to a string.
    - Date fields (``DATE_FIELDS``) resolve to ISO dates, or null when they do not.
    """
    missing: list[str] = []
    unresolved: list[str] = []
    escape = CHANNEL_ESCAPES.get(action.type)
    typed_fields = _typed_fields(action.type)

    def note_missing(names: list[str]) -> None:
        missing.extend(name for name in names if name not in missing)

    def text(value: str, key: str | None, path: str, typed: bool) -> Any:
        if key in DATE_FIELDS and not typed:
            resolved = render_date(value, data, now, tz)
            if resolved is None:
                unresolved.append(path)
                return None
            return resolved.isoformat() if isinstance(resolved, date | datetime) else resolved
        variable = single_variable(value) if typed else None
        if variable is not None:
            found = field_value(data, variable)
            if found is MISSING:
                note_missing([variable])
                return None
            return found
        rendered = render(value, data, now, tz, escape=None if typed else escape)
        note_missing(rendered.missing)
        return rendered.text

    def walk(value: Any, key: str | None, path: str, typed: bool) -> Any:
        if isinstance(value, dict):
            return {
                k: v
                if k in _LITERAL_FIELDS and not typed
                else walk(v, k, f"{path}.{k}", typed or (path == "$" and k in typed_fields))
                for k, v in value.items()
            }
        if isinstance(value, list):
            return [walk(item, key, f"{path}[{i}]", typed) for i, item in enumerate(value)]
        return text(value, key, path, typed) if isinstance(value, str) else value

    dumped = action.model_dump(mode="json", by_alias=True, exclude_none=True)
    fields = walk(dumped, None, "$", False)
    return RenderedAction(fields=fields, missing=missing, unresolved_dates=unresolved)
