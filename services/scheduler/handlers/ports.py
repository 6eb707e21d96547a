"""What the handlers publish through and read the tenants' zones from (Protocols)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from shared.contracts import CloudEvent


class EventPublisher(Protocol):
    async def publish(self, events: Sequence[CloudEvent]) -> None:
        """Return once the broker acknowledged every event (acks=all)."""


async def publish_events(publisher: EventPublisher, events: Iterable[CloudEvent | None]) -> None:
    """Publish the events a claim's firings yield (a firing may yield none, e.g. a skipped slot)
    and return once every one is acknowledged."""
    ready = [event for event in events if event is not None]
    if ready:
        await publisher.publish(ready)


class TenantZones(Protocol):
    """Each tenant's IANA time zone, as the tenancy view publishes it (UTC when unset)."""

    def timezone(self, tenant_id: str) -> str:
        """The zone known for ``tenant_id`` (call ``load`` first for tenants not seen yet)."""

    def known(self) -> dict[str, str]:
        """Every tenant whose zone is known, with its zone."""

    async def load(self, tenant_ids: Iterable[str]) -> None:
        """Make the zones of ``tenant_ids`` known (reads only the ones not known yet)."""

    async def refresh(self) -> dict[str, str]:
        """Read every tenant's zone again; returns them."""
