"""Normalizing native input into the envelope: ids, tenants, batches, errors by JSON path."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.ingest.domain import Rejected, normalize_batch, normalize_native


def test_the_short_native_form_becomes_an_envelope_for_the_callers_tenant() -> None:
    now = datetime(2026, 11, 21, 10, tzinfo=UTC)
    event = normalize_native(
        {"type": "private_offer.accepted", "id": "o-1", "data": {"value": 1}},
        tenant_id="acme",
        now=now,
    )
    assert (event.id, event.tenantid, event.source, event.time) == ("o-1", "acme", "native", now)
    assert event.specversion == "1.0"


def test_an_event_without_id_gets_the_same_content_id_every_time() -> None:
    body = {"type": "customer.created", "data": {"customerName": "Globex"}}
    first = normalize_native(body, tenant_id="acme")
    again = normalize_native(dict(body), tenant_id="acme")
    other_tenant = normalize_native(body, tenant_id="globex")
    assert first.id == again.id
    assert first.id.startswith("evt_")
    assert other_tenant.id != first.id


def test_a_full_envelope_is_accepted_as_is() -> None:
    envelope = {
        "specversion": "1.0",
        "id": "evt_1",
        "source": "aws-marketplace",
        "type": "contract.expiring",
        "time": "2026-11-21T10:00:00Z",
        "tenantid": "acme",
        "data": {"daysUntilExpiry": 90},
    }
    event = normalize_native(envelope, tenant_id="acme")
    assert (event.source, event.data) == ("aws-marketplace", {"daysUntilExpiry": 90})


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"type": "customer.created", "tenantId": "globex"}, "$.tenantId"),
        (
            {
                "specversion": "1.0",
                "id": "e",
                "source": "s",
                "type": "customer.created",
                "tenantid": "globex",
            },
            "$.tenantid",
        ),
        ({"type": "customer.created", "extra": 1}, "$.extra"),
        ({"type": "customer.created", "time": "yesterday"}, "$.time"),
        ({"type": "customer.created", "data": []}, "$.data"),
        ("not an object", "$"),
    ],
)
def test_invalid_events_name_the_field(body: object, path: str) -> None:
    with pytest.raises(Rejected) as rejected:
        normalize_native(body, tenant_id="acme")
    assert path in [p.path for p in rejected.value.problems]


def test_a_batch_is_all_or_nothing_and_lists_every_problem() -> None:
    with pytest.raises(Rejected) as rejected:
        normalize_batch(
            {"events": [{"type": "customer.created"}, {"type": "x"}, {"data": {}}]},
            tenant_id="acme",
            max_events=10,
        )
    assert [p.path for p in rejected.value.problems] == ["$.events[1].type", "$.events[2].type"]


def test_batch_limits() -> None:
    with pytest.raises(Rejected, match="at most 2"):
        normalize_batch([{"type": "customer.created"}] * 3, tenant_id="acme", max_events=2)
    with pytest.raises(Rejected, match="empty"):
        normalize_batch([], tenant_id="acme", max_events=2)
    assert (
        len(
            normalize_batch(
                [{"type": "customer.created", "id": str(n)} for n in range(2)],
                tenant_id="acme",
                max_events=2,
            )
        )
        == 2
    )


def test_data_the_pipeline_cannot_store_is_refused_naming_the_field() -> None:
    with pytest.raises(Rejected) as rejected:
        normalize_batch(
            [
                {"type": "customer.created", "data": {"ok": 1}},
                {"type": "customer.created", "data": {"note": "a\u0000b"}},
            ],
            tenant_id="acme",
            max_events=10,
        )
    [problem] = rejected.value.problems
    assert problem.path == "$[1].data"
    assert "data.note: must not contain NUL characters" in problem.message
