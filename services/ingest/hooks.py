"""What a workflow's inbound hook (``POST /v1/hooks/{tenant}/{token}``) turns a request into.

Pure: no I/O. The body becomes the ``data`` of one ``webhook.received`` event whose ``subject``
is the workflow, so that only that workflow fires: a JSON object as it is, a form-encoded body
(``application/x-www-form-urlencoded``) as a flat object of strings (a name given several times
maps to the list of its values, in order). The event id is fresh per request, unless the caller
names the delivery (``Idempotency-Key``, or Standard Webhooks' ``webhook-id``): then the same
delivery to the same workflow always has the same id, and a retry within the dedup window is
not published again.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import parse_qsl

from pydantic import ValidationError

from services.ingest.domain import Problem, Rejected
from services.ingest.sources.base import event_id, parse_json
from shared.contracts import CloudEvent
from shared.contracts.envelope import HOOK_SOURCE
from shared.contracts.errors import validation_details

__all__ = ["HOOK_SOURCE", "delivery_key", "hook_event", "read_data"]

HOOK_TRIGGER: Final = "webhook.received"
JSON: Final = "application/json"
FORM: Final = "application/x-www-form-urlencoded"
CONTENT_TYPES: Final = frozenset({JSON, FORM})
IDEMPOTENCY_HEADERS: Final = ("Idempotency-Key", "webhook-id")
"""Headers naming a delivery, in order of preference."""
MAX_FORM_FIELDS: Final = 1000


def read_data(raw: bytes, content_type: str) -> dict[str, Any]:
    """The event's ``data`` from a body of ``content_type`` (one of ``CONTENT_TYPES``); raises
    ``Rejected`` naming what is wrong."""
    if content_type == FORM:
        return _form(raw)
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise Rejected(
            "invalid_body",
            "the body must be a JSON object (it becomes the event's data)",
            [Problem("$", f"expected an object, got {_kind(body)}")],
        )
    return body


def _form(raw: bytes) -> dict[str, Any]:
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            errors="strict",
            max_num_fields=MAX_FORM_FIELDS,
        )
    except UnicodeDecodeError as error:
        raise Rejected(
            "invalid_form", "the form is not UTF-8", [Problem("$", str(error))]
        ) from None
    except ValueError as error:
        raise Rejected(
            "invalid_form", f"the body is not a form: {error}", [Problem("$", str(error))]
        ) from None
    data: dict[str, Any] = {}
    for name, value in pairs:
        if name not in data:
            data[name] = value
        elif isinstance(data[name], list):
            data[name].append(value)
        else:
            data[name] = [data[name], value]
    return data


def delivery_key(headers: Mapping[str, str]) -> str | None:
    """The caller's name for this delivery, if it gave one; ``Rejected`` if it is blank."""
    for name in IDEMPOTENCY_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        if not value.strip():
            raise Rejected(
                "invalid_header", f"{name} is empty", [Problem(f"header:{name}", "empty")]
            )
        return value.strip()
    return None


def hook_event(
    *,
    tenant_id: str,
    workflow_id: str,
    data: dict[str, Any],
    key: str | None,
    now: datetime | None = None,
) -> CloudEvent:
    """The ``webhook.received`` event for the workflow; ``Rejected`` when the data cannot
    travel (what PostgreSQL cannot store, nesting deeper than the envelope allows)."""
    identity = (
        event_id(tenant_id, HOOK_SOURCE, f"{workflow_id}\x1f{key}", HOOK_TRIGGER)
        if key is not None
        else f"evt_{uuid.uuid4().hex}"
    )
    try:
        return CloudEvent(
            id=identity,
            source=HOOK_SOURCE,
            type=HOOK_TRIGGER,
            time=now or datetime.now(UTC),
            tenantid=tenant_id,
            subject=workflow_id,
            data=data,
        )
    except ValidationError as error:
        problems = [
            Problem(d["path"], d["message"])
            for d in validation_details(error, prefix="$ (envelope)")
        ]
        raise Rejected("invalid_event", "the body cannot be stored as given", problems) from None


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__
