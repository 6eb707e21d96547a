"""What every source adapter shares: the intake result, event ids, and reading vendor payloads.

Pure: no I/O. An adapter turns one vendor payload into ``Intake`` (the envelopes it yields, and
any notice to record) or raises ``Rejected`` naming each field at fault by its path.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from pydantic import ValidationError

from services.ingest.domain import Problem, Rejected
from shared.contracts import CloudEvent, TriggerType
from shared.contracts.errors import validation_details

Reply = Literal["json", "soap"]
"""How the HTTP answer is written: the JSON summary, or Salesforce's SOAP acknowledgement."""

MAX_NESTING: Final = 64
"""Deepest JSON or XML nesting a vendor payload may have; deeper is refused, never recursed into."""


@dataclass(frozen=True, slots=True)
class Notice:
    """Something received that is not an event but must not vanish (an SNS subscription
    confirmation): recorded on ``events.deadletter`` with ``code`` and counted."""

    code: str
    message: str
    details: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Intake:
    """What one input yields: envelopes to publish, notices to record, and how to answer."""

    events: list[CloudEvent]
    notices: list[Notice] = field(default_factory=list)
    reply: Reply = "json"


def event_id(tenant_id: str, source: str, vendor_key: str, trigger: str) -> str:
    """The normalized id of one vendor event: the same input always yields the same id.

    ``vendor_key`` is the vendor's own id of the event (plus whatever the vendor needs to make it
    unique, see each adapter); ``trigger`` is part of it because one vendor event may yield
    several envelopes (an AWS agreement created is both an accepted offer and a new contract).
    """
    canonical = "\x1f".join((tenant_id, source, vendor_key, trigger))
    return "evt_" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def envelope(
    *,
    tenant_id: str,
    source: str,
    vendor_key: str,
    trigger: TriggerType,
    time: datetime | None,
    subject: str | None,
    data: dict[str, Any],
    path: str = "$",
) -> CloudEvent:
    """Build the envelope, or ``Rejected`` when the data cannot travel (the contract refuses it)."""
    try:
        return CloudEvent(
            id=event_id(tenant_id, source, vendor_key, trigger),
            source=source,
            type=trigger,
            time=time or datetime.now(UTC),
            tenantid=tenant_id,
            subject=subject[:256] if subject else None,
            data={key: value for key, value in data.items() if value is not None},
        )
    except ValidationError as error:
        problems = [
            Problem(d["path"], d["message"])
            for d in validation_details(error, prefix=path + " (envelope)")
        ]
        raise Rejected("invalid_event", "the event cannot be stored as given", problems) from None


def parse_json(raw: bytes | str, *, path: str = "$") -> object:
    """Strict JSON (no comments, no trailing commas, no NaN), or ``Rejected`` saying where."""
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as error:
        raise Rejected(
            "invalid_json", f"the body is not valid JSON: {error}", [Problem(path, str(error))]
        ) from None
    except RecursionError:
        raise Rejected(
            "invalid_json",
            "the body is nested too deeply",
            [Problem(path, f"at most {MAX_NESTING} levels")],
        ) from None


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def depth(value: object, limit: int = MAX_NESTING) -> int:
    """Nesting depth of a decoded JSON value, counting no further than ``limit + 1``."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        current, level = stack.pop()
        if level > limit:
            return level
        deepest = max(deepest, level)
        if isinstance(current, dict):
            stack.extend((item, level + 1) for item in current.values())
        elif isinstance(current, list):
            stack.extend((item, level + 1) for item in current)
    return deepest


class Fields:
    """Typed reads from a vendor object, each failure a ``Problem`` at the field's path.

    Adapters read every field through one of these so that a missing or mistyped field is named
    precisely (``$.detail.agreement.id: required``) instead of surfacing as a ``KeyError``.
    """

    def __init__(self, value: object, path: str) -> None:
        if not isinstance(value, dict):
            raise Rejected(
                "invalid_event",
                "expected a JSON object",
                [Problem(path, f"expected an object, got {_kind(value)}")],
            )
        self.value: dict[str, Any] = value
        self.path = path

    def at(self, name: str) -> str:
        return f"{self.path}.{name}"

    def object(self, name: str, *, required: bool = True) -> Fields | None:
        raw = self.value.get(name)
        if raw is None and not required:
            return None
        if raw is None:
            raise self.missing(name)
        return Fields(raw, self.at(name))

    def require_object(self, name: str) -> Fields:
        found = self.object(name)
        assert found is not None
        return found

    def text(self, name: str, *, required: bool = False) -> str | None:
        raw = self.value.get(name)
        if raw is None:
            if required:
                raise self.missing(name)
            return None
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise Rejected(
                "invalid_event",
                f"{name!r} must be a string",
                [Problem(self.at(name), f"expected a string, got {_kind(raw)}")],
            )
        return str(raw)

    def require_text(self, name: str) -> str:
        found = self.text(name, required=True)
        assert found is not None
        return found

    def number(self, name: str) -> float | int | None:
        """A number, or a string holding one (vendors send amounts as ``"105000.00"``)."""
        raw = self.value.get(name)
        if raw is None or raw == "":
            return None
        return as_number(raw, self.at(name))

    def missing(self, name: str) -> Rejected:
        return Rejected(
            "missing_field", f"{self.at(name)} is required", [Problem(self.at(name), "required")]
        )


def as_number(raw: object, path: str) -> float | int:
    if isinstance(raw, bool):
        raise Rejected(
            "invalid_event", "expected a number", [Problem(path, "expected a number, got bool")]
        )
    if isinstance(raw, int | float) and math.isfinite(raw):
        return raw
    if isinstance(raw, str):
        try:
            parsed = float(raw)
        except ValueError:
            pass
        else:
            if math.isfinite(parsed):
                return int(parsed) if parsed.is_integer() and "." not in raw else parsed
    raise Rejected(
        "invalid_event", "expected a number", [Problem(path, f"expected a number, got {raw!r}")]
    )


def timestamp(raw: object, path: str) -> datetime:
    """An ISO 8601 instant (no offset means UTC, as the vendors document) or epoch milliseconds."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            return datetime.fromtimestamp(raw / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            pass
    elif isinstance(raw, str):
        text = raw.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        text = _trim_fraction(text)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise Rejected(
        "invalid_event",
        "expected a timestamp",
        [Problem(path, f"expected an ISO 8601 time or epoch milliseconds, got {raw!r}")],
    )


def _trim_fraction(text: str) -> str:
    """Azure prints seven fractional digits (``05:05:29.9799053Z``); Python reads at most six."""
    dot = text.find(".", 19)
    if dot == -1:
        return text
    end = dot + 1
    while end < len(text) and text[end].isdigit():
        end += 1
    digits = text[dot + 1 : end]
    return text[: dot + 1] + digits[:6] + text[end:] if len(digits) > 6 else text


def check_batch(items: list[object], path: str, max_events: int) -> None:
    """A vendor batch is not empty and holds at most ``max_events`` items."""
    if not items:
        raise Rejected("invalid_batch", "the batch is empty", [Problem(path, "at least one event")])
    if len(items) > max_events:
        raise Rejected(
            "batch_too_large",
            f"a batch holds at most {max_events} events",
            [Problem(path, f"{len(items)} events, at most {max_events}")],
        )


def collect(
    results: list[tuple[str, object]], parse_one: Callable[[object, str], list[CloudEvent]]
) -> list[CloudEvent]:
    """Parse every ``(path, item)``; all or nothing, every item's problems listed."""
    events: list[CloudEvent] = []
    problems: list[Problem] = []
    codes: set[str] = set()
    for path, item in results:
        try:
            events.extend(parse_one(item, path))
        except Rejected as rejected:
            problems.extend(rejected.problems)
            codes.add(rejected.code)
    if problems:
        code = codes.pop() if len(codes) == 1 else "invalid_event"
        raise Rejected(code, "some events in the batch are invalid; none was accepted", problems)
    return events


def each(
    items: list[object],
    prefix: str,
    max_events: int,
    parse_one: Callable[[object, str], list[CloudEvent]],
) -> list[CloudEvent]:
    """A vendor batch at ``prefix``: bounded, every item parsed at ``prefix[i]``, all or nothing."""
    check_batch(items, prefix, max_events)
    return collect([(f"{prefix}[{index}]", item) for index, item in enumerate(items)], parse_one)


def unmappable(path: str, value: str, known: Mapping[str, object] | list[str]) -> Rejected:
    names = sorted(known)
    return Rejected(
        "unmappable_event",
        f"no trigger is defined for {value!r}",
        [Problem(path, f"{value!r} is not one of {names}")],
    )


def _kind(value: object) -> str:
    if value is None:
        return "null"
    return {dict: "object", list: "array", str: "string", bool: "bool"}.get(
        type(value), type(value).__name__
    )
