"""Ingest's handlers: one per request or record kind. They decide; the sink does the I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Protocol

from services.ingest.domain import (
    SUPPORTED_INBOUND_FORMATS,
    Problem,
    Rejected,
    normalize_batch,
    normalize_native,
)
from shared.contracts import CloudEvent, EventDeadLetter


class EventSink(Protocol):
    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Return once the broker acknowledged every event (acks=all)."""

    async def dead_letter(self, letter: EventDeadLetter, key: bytes | None) -> None:
        """Return once the broker acknowledged the dead letter."""


async def accept_http_events(
    sink: EventSink, body: object, *, tenant_id: str, max_events: int
) -> list[CloudEvent]:
    """POST /v1/events: validate all, publish all, return them; raises ``Rejected``."""
    events = normalize_batch(body, tenant_id=tenant_id, max_events=max_events)
    await sink.publish(events)
    return events


async def accept_inbound_record(
    sink: EventSink, value: bytes | None, key: bytes | None, headers: Mapping[str, str]
) -> CloudEvent | None:
    """One record of ``events.inbound``: publish its event, or dead-letter it with the reason."""
    source = headers.get("source", "native")
    tenant = headers.get("tenant")
    try:
        if source not in SUPPORTED_INBOUND_FORMATS:
            raise Rejected(
                "unsupported_source",
                f"source format {source!r} is not supported",
                [Problem("header:source", f"one of {sorted(SUPPORTED_INBOUND_FORMATS)}")],
            )
        if value is None:
            raise Rejected("invalid_event", "the record has no value", [Problem("$", "empty")])
        try:
            body = json.loads(value)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise Rejected(
                "invalid_json", f"the value is not JSON: {error}", [Problem("$", str(error))]
            ) from None
        if tenant is None and isinstance(body, dict):
            candidate = body.get("tenantId", body.get("tenantid"))
            tenant = candidate if isinstance(candidate, str) else None
        if tenant is None:
            raise Rejected(
                "missing_tenant",
                "no tenant: set the 'tenant' header or 'tenantId' in the event",
                [Problem("header:tenant", "required")],
            )
        event = normalize_native(body, tenant_id=tenant)
    except Rejected as rejected:
        letter = EventDeadLetter(
            received=(value or b"").decode("utf-8", errors="replace"),
            source=source,
            tenant=tenant,
            error={
                "code": rejected.code,
                "message": rejected.message,
                "details": [problem.as_dict() for problem in rejected.problems],
            },
        )
        await sink.dead_letter(letter, key)
        return None
    await sink.publish([event])
    return event
