"""Ingest's handlers: one per request or record kind. They decide; the sink and store do the I/O.

Every intake path — ``POST /v1/events``, ``POST /v1/webhooks/{source}/{tenant}`` and
``events.inbound`` — ends in ``accept``: parse with the source's adapter, record notices, drop
what was already published, publish the rest and wait for the broker's acks, and only then
remember the ids as published (so a publish that failed leaves the vendor's retry free to
publish again). A workflow's inbound hook (``POST /v1/hooks/{tenant}/{token}``) ends in
``accept_hook``, which publishes the same way. Within one process, inputs carrying the same
event id take their turn (``_IN_FLIGHT``): a vendor's concurrent retries of one webhook publish
it once.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import Counter

from services.ingest import hooks, sources
from services.ingest.domain import Problem, Rejected
from services.ingest.sources import Intake, Notice
from services.ingest.sources.base import Reply, parse_json
from shared.contracts import CloudEvent, EventDeadLetter
from shared.contracts.envelope import TENANT_ID_PATTERN

log = logging.getLogger(__name__)

EVENTS_IN = Counter(
    "ingest_events_in_total",
    "Envelopes accepted from a source, by source and type.",
    ["source", "type"],
)
REJECTED = Counter(
    "ingest_rejected_total", "Inputs refused, by source format and reason.", ["source", "reason"]
)
DEDUP_HITS = Counter(
    "ingest_dedup_hits_total",
    "Envelopes not published again because the same source event was published already.",
    ["source"],
)
NOTICES = Counter(
    "ingest_notices_total", "Inputs recorded that are not events (SNS confirmations).", ["code"]
)

_TENANT_ID = re.compile(TENANT_ID_PATTERN)
_SECRET_HEADERS = frozenset(
    {"authorization", "cookie", "x-hubspot-signature", "x-hubspot-signature-v3"}
)


class EventSink(Protocol):
    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Return once the broker acknowledged every event (acks=all)."""

    async def dead_letter(self, letter: EventDeadLetter, key: bytes | None) -> None:
        """Return once the broker acknowledged the dead letter."""


class PublishedEvents(Protocol):
    """Which envelope ids were published already, within the dedup window."""

    async def published(self, tenant_id: str, event_ids: Sequence[str]) -> set[str]:
        """The ids among ``event_ids`` published for the tenant within the window."""

    async def remember(self, tenant_id: str, event_ids: Sequence[str]) -> None:
        """Record ``event_ids`` as published now (called only after the broker's acks)."""


class NotPublished(Exception):
    """What ingest reads through another service's published view is not there yet (the config
    API has not migrated this database)."""


class WorkflowHooks(Protocol):
    """The inbound hooks the config API publishes."""

    async def workflow_for(self, tenant_id: str, token: str) -> str | None:
        """The id of the tenant's workflow whose hook ``token`` is, if any (looked up by the
        token's digest: a wrong token, tenant or workflow all come back None). Raises
        ``NotPublished`` while the config API's view does not exist."""


@dataclass(frozen=True, slots=True)
class Accepted:
    """What an input yielded: every envelope, those published now, and how to answer."""

    events: list[CloudEvent]
    published: list[CloudEvent]
    notices: list[Notice]
    reply: Reply

    @property
    def duplicates(self) -> int:
        return len(self.events) - len(self.published)

    def summary(self) -> dict[str, object]:
        return {
            "accepted": len(self.events),
            "published": len(self.published),
            "duplicates": self.duplicates,
            "events": [{"id": e.id, "type": e.type} for e in self.events],
            "notices": [{"code": n.code, "message": n.message} for n in self.notices],
        }


@dataclass
class _KeyedLocks:
    """One lock per key while anyone holds or waits for it; taken in sorted order, so two inputs
    sharing several ids never wait for each other in a circle."""

    _locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def holding(self, tenant_id: str, keys: Sequence[str]) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            for key in sorted(set(keys)):
                await stack.enter_async_context(self._one((tenant_id, key)))
            yield

    @contextlib.asynccontextmanager
    async def _one(self, key: tuple[str, str]) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


_IN_FLIGHT = _KeyedLocks()
"""The event ids this process is publishing: a duplicate waits, then finds its id published."""


async def accept(
    sink: EventSink,
    store: PublishedEvents,
    *,
    source: str,
    raw: bytes,
    tenant_id: str,
    max_events: int,
    headers: Mapping[str, str] | None = None,
) -> Accepted:
    """Parse ``raw`` as ``source``'s format and publish what is new; raises ``Rejected``.

    Returns only after the broker acknowledged every envelope and notice. Duplicates in flight
    at the same moment in one process take their turn, the later ones finding the id published;
    in two replicas they may both be published: they carry the same id, which yields the same
    execution downstream.
    """
    try:
        intake: Intake = sources.read(source, raw, tenant_id=tenant_id, max_events=max_events)
    except Rejected as rejected:
        REJECTED.labels(source, rejected.code).inc()
        raise
    for notice in intake.notices:
        await sink.dead_letter(
            _letter(
                raw, headers or {}, source, tenant_id, notice.code, notice.message, notice.details
            ),
            key=None,
        )
        NOTICES.labels(notice.code).inc()
        log.warning(
            "input recorded, not an event",
            extra={"source": source, "tenant": tenant_id, "code": notice.code, **notice.details},
        )
    fresh = await _publish_new(sink, store, source, tenant_id, intake.events)
    return Accepted(intake.events, fresh, intake.notices, intake.reply)


async def accept_hook(
    sink: EventSink,
    store: PublishedEvents,
    *,
    tenant_id: str,
    workflow_id: str,
    raw: bytes,
    content_type: str,
    headers: Mapping[str, str],
) -> Accepted:
    """The body of a request to the workflow's hook as one ``webhook.received`` event for it;
    raises ``Rejected``. Returns only after the broker acknowledged the event (or found it
    published already: the same ``Idempotency-Key``/``webhook-id`` within the dedup window)."""
    try:
        event = hooks.hook_event(
            tenant_id=tenant_id,
            workflow_id=workflow_id,
            data=hooks.read_data(raw, content_type),
            key=hooks.delivery_key(headers),
        )
    except Rejected as rejected:
        REJECTED.labels(hooks.HOOK_SOURCE, rejected.code).inc()
        raise
    fresh = await _publish_new(sink, store, hooks.HOOK_SOURCE, tenant_id, [event])
    return Accepted([event], fresh, [], "json")


async def _publish_new(
    sink: EventSink,
    store: PublishedEvents,
    source: str,
    tenant_id: str,
    events: Sequence[CloudEvent],
) -> list[CloudEvent]:
    """Publish the events not published already and remember them; the ones published now."""
    unique = list({event.id: event for event in events}.values())
    async with _IN_FLIGHT.holding(tenant_id, [e.id for e in unique]):
        seen = await store.published(tenant_id, [e.id for e in unique]) if unique else set()
        fresh = [event for event in unique if event.id not in seen]
        if fresh:
            await sink.publish(fresh)
            await store.remember(tenant_id, [e.id for e in fresh])
    for event in fresh:
        EVENTS_IN.labels(event.source, event.type).inc()
    if len(events) > len(fresh):
        DEDUP_HITS.labels(source).inc(len(events) - len(fresh))
    return fresh


async def accept_inbound_record(
    sink: EventSink,
    store: PublishedEvents,
    value: bytes | None,
    key: bytes | None,
    headers: Mapping[str, str],
    *,
    max_events: int,
) -> Accepted | None:
    """One record of ``events.inbound``: publish its events, or dead-letter it with the reason.

    Headers: ``source`` (the format, default ``native``) and ``tenant`` (native events may
    name their tenant in ``tenantId`` instead).
    """
    source = headers.get("source", "native")
    tenant = headers.get("tenant")
    try:
        tenant = _inbound_tenant(source, tenant, value)
    except Rejected as rejected:
        REJECTED.labels(source if sources.is_source(source) else "unknown", rejected.code).inc()
        await sink.dead_letter(_rejection_letter(value, headers, source, tenant, rejected), key)
        return None
    assert value is not None
    try:
        return await accept(
            sink,
            store,
            source=source,
            raw=value,
            tenant_id=tenant,
            max_events=max_events,
            headers=headers,
        )
    except Rejected as rejected:
        await sink.dead_letter(_rejection_letter(value, headers, source, tenant, rejected), key)
        return None


def _inbound_tenant(source: str, tenant: str | None, value: bytes | None) -> str:
    """The record's tenant, or ``Rejected`` when the record cannot be attributed to one."""
    if not sources.is_source(source):
        raise Rejected(
            "unsupported_source",
            f"source format {source!r} is not supported",
            [Problem("header:source", f"one of {sorted(sources.ADAPTERS)}")],
        )
    if value is None:
        raise Rejected("invalid_event", "the record has no value", [Problem("$", "empty")])
    if tenant is None and source == "native":
        tenant = _native_tenant(value)
    if tenant is None:
        raise Rejected(
            "missing_tenant",
            "no tenant: set the 'tenant' header (or, for native events, 'tenantId')",
            [Problem("header:tenant", "required")],
        )
    if not _TENANT_ID.match(tenant):
        raise Rejected(
            "invalid_tenant",
            "the tenant header is not a tenant id",
            [Problem("header:tenant", f"must match {TENANT_ID_PATTERN}")],
        )
    return tenant


def _rejection_letter(
    value: bytes | None,
    headers: Mapping[str, str],
    source: str,
    tenant: str | None,
    rejected: Rejected,
) -> EventDeadLetter:
    return _letter(
        value or b"",
        headers,
        source,
        tenant,
        rejected.code,
        rejected.message,
        problems=rejected.problems,
    )


def _native_tenant(value: bytes) -> str | None:
    try:
        body = parse_json(value)
    except Rejected:
        return None
    candidate = body.get("tenantId", body.get("tenantid")) if isinstance(body, dict) else None
    return candidate if isinstance(candidate, str) else None


def _letter(
    raw: bytes,
    headers: Mapping[str, str],
    source: str,
    tenant: str | None,
    code: str,
    message: str,
    details: Mapping[str, str] | None = None,
    problems: Sequence[Problem] = (),
) -> EventDeadLetter:
    try:
        received, exact = raw.decode("utf-8"), None
    except UnicodeDecodeError:
        received, exact = raw.decode("utf-8", "replace"), base64.b64encode(raw).decode()
    return EventDeadLetter(
        received=received,
        received_base64=exact,
        headers={k: v for k, v in headers.items() if k.lower() not in _SECRET_HEADERS},
        source=source,
        tenant=tenant,
        error={
            "code": code,
            "message": message,
            "details": [p.as_dict() for p in problems]
            or [{"path": k, "message": v} for k, v in (details or {}).items()],
        },
    )
