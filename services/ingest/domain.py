"""Turning accepted input into the normalized envelope. Pure: no I/O.

Native input is either the envelope itself (it has ``specversion``) or the short form
``{"type", "tenantId", "data", "id"?, "time"?, "subject"?}``. An event without an ``id`` gets one
derived from its content, so a producer that retries the same event gets the same id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from shared.contracts import CloudEvent, TriggerType
from shared.contracts.envelope import TENANT_ID_PATTERN
from shared.contracts.errors import validation_details

NATIVE_SOURCE = "native"


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason an input was rejected, at a JSON path such as ``$[2].type``."""

    path: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message}


class Rejected(Exception):
    """The input cannot become events; ``problems`` name each field at fault."""

    def __init__(self, code: str, message: str, problems: list[Problem]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.problems = problems


class NativeEvent(BaseModel):
    """The short native form."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    type: TriggerType
    tenant_id: str | None = Field(default=None, alias="tenantId", pattern=TENANT_ID_PATTERN)
    data: dict[str, Any] = Field(default_factory=dict)
    id: str | None = Field(default=None, min_length=1, max_length=256)
    time: AwareDatetime | None = None
    subject: str | None = Field(default=None, max_length=256)


def _problems(error: ValidationError, prefix: str) -> list[Problem]:
    return [Problem(d["path"], d["message"]) for d in validation_details(error, prefix=prefix)]


def derived_event_id(
    tenant_id: str, event_type: str, data: dict[str, Any], time: datetime | None
) -> str:
    """A content id for an event that came without one (stable across retries)."""
    canonical = json.dumps(
        [tenant_id, event_type, data, time.isoformat() if time else None],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return "evt_" + hashlib.sha256(canonical.encode()).hexdigest()[:32]


def normalize_native(
    item: object, *, tenant_id: str, path: str = "$", now: datetime | None = None
) -> CloudEvent:
    """One native input → envelope for ``tenant_id``; raises ``Rejected`` naming the fields."""
    if not isinstance(item, dict):
        raise Rejected(
            "invalid_event", "an event must be a JSON object", [Problem(path, "expected an object")]
        )
    if "specversion" in item:
        body = dict(item)
        body.setdefault("tenantid", tenant_id)
        try:
            event = CloudEvent.model_validate(body)
        except ValidationError as error:
            raise Rejected(
                "invalid_event", "the event envelope is invalid", _problems(error, path)
            ) from None
        if event.tenantid != tenant_id:
            raise Rejected(
                "tenant_mismatch",
                "the event's tenant is not the caller's",
                [
                    Problem(
                        f"{path}.tenantid", f"must be {tenant_id!r} (the tenant of the credentials)"
                    )
                ],
            )
        return event
    try:
        native = NativeEvent.model_validate(item)
    except ValidationError as error:
        raise Rejected("invalid_event", "the event is invalid", _problems(error, path)) from None
    if native.tenant_id is not None and native.tenant_id != tenant_id:
        raise Rejected(
            "tenant_mismatch",
            "the event's tenant is not the caller's",
            [Problem(f"{path}.tenantId", f"must be {tenant_id!r} (the tenant of the credentials)")],
        )
    event_id = native.id or derived_event_id(tenant_id, native.type, native.data, native.time)
    try:
        return CloudEvent(
            id=event_id,
            source=NATIVE_SOURCE,
            type=native.type,
            time=native.time or now or datetime.now(UTC),
            tenantid=tenant_id,
            subject=native.subject,
            data=native.data,
        )
    except ValidationError as error:  # what the envelope refuses (data it cannot carry)
        raise Rejected("invalid_event", "the event is invalid", _problems(error, path)) from None


def normalize_batch(body: object, *, tenant_id: str, max_events: int) -> list[CloudEvent]:
    """A JSON body holding one event, a list of them, or ``{"events": [...]}``.

    All or nothing: if any event is invalid the whole batch is rejected, every problem listed.
    """
    if isinstance(body, dict) and set(body) == {"events"}:
        items, prefix = body["events"], "$.events"
    elif isinstance(body, list):
        items, prefix = body, "$"
    else:
        return [normalize_native(body, tenant_id=tenant_id)]
    if not isinstance(items, list):
        raise Rejected(
            "invalid_batch", "'events' must be a list", [Problem(prefix, "expected a list")]
        )
    if not items:
        raise Rejected(
            "invalid_batch", "the batch is empty", [Problem(prefix, "at least one event")]
        )
    if len(items) > max_events:
        raise Rejected(
            "batch_too_large",
            f"a batch holds at most {max_events} events",
            [Problem(prefix, f"{len(items)} events, at most {max_events}")],
        )
    events: list[CloudEvent] = []
    problems: list[Problem] = []
    now = datetime.now(UTC)
    for index, item in enumerate(items):
        try:
            events.append(
                normalize_native(item, tenant_id=tenant_id, path=f"{prefix}[{index}]", now=now)
            )
        except Rejected as rejected:
            problems.extend(rejected.problems)
    if problems:
        raise Rejected(
            "invalid_event", "some events in the batch are invalid; none was accepted", problems
        )
    return events


InboundFormat = Literal["native"]
SUPPORTED_INBOUND_FORMATS: frozenset[str] = frozenset({"native"})
