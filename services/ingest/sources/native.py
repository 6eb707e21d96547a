"""The native format: the envelope itself or the short form (see ``services.ingest.domain``)."""

from __future__ import annotations

from services.ingest.domain import normalize_batch
from services.ingest.sources.base import Intake


def parse(body: object, *, tenant_id: str, max_events: int) -> Intake:
    """One native event, a list of them, or ``{"events": [...]}`` (all or nothing)."""
    return Intake(normalize_batch(body, tenant_id=tenant_id, max_events=max_events))
