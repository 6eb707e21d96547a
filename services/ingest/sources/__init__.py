"""Source adapters: each vendor's payloads → the envelope of SPEC §2.1, or ``Rejected``.

Pure parsing and mapping, no I/O (an import-linter contract keeps it so). One module per source;
``read`` picks the adapter by the source's name (the webhook path, the ``source`` header of
``events.inbound``, the ``source`` query parameter of ``POST /v1/events``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from services.ingest.domain import Problem, Rejected
from services.ingest.sources import aws, azure, hubspot, native, salesforce
from services.ingest.sources.base import Intake, Notice, parse_json

Adapter = Callable[..., Intake]

ADAPTERS: Final[dict[str, Adapter]] = {
    # The names are shared.tenancy.INBOUND_SOURCES: a tenant's inbound secret is per name.
    "native": native.parse,
    "aws": aws.parse,
    "azure": azure.parse,
    "salesforce": salesforce.parse,
    "hubspot": hubspot.parse,
}
XML_SOURCES: Final = frozenset({"salesforce"})
"""Sources whose bodies may be XML (Salesforce Outbound Messages)."""

__all__ = ["ADAPTERS", "Intake", "Notice", "is_source", "parse_json", "read"]


def is_source(name: str) -> bool:
    return name in ADAPTERS


def read(source: str, raw: bytes, *, tenant_id: str, max_events: int) -> Intake:
    """Parse ``raw`` as ``source``'s format for ``tenant_id``; raises ``Rejected``."""
    if source not in ADAPTERS:
        raise Rejected(
            "unsupported_source",
            f"source format {source!r} is not supported",
            [Problem("source", f"one of {sorted(ADAPTERS)}")],
        )
    if source in XML_SOURCES and raw.lstrip()[:1] == b"<":
        return salesforce.parse_outbound_message(raw, tenant_id=tenant_id, max_events=max_events)
    adapter = ADAPTERS[source]
    return adapter(parse_json(raw), tenant_id=tenant_id, max_events=max_events)
