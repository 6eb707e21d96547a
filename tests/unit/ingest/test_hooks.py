"""A hook request's body as the event's data, the event's id, and ``accept_hook``'s dedup."""

from __future__ import annotations

import pytest

from services.ingest.domain import Rejected
from services.ingest.handlers import accept_hook
from services.ingest.hooks import FORM, JSON, delivery_key, hook_event, read_data
from tests.unit.ingest.test_handlers import Broker, Remembered


def test_a_json_object_is_the_data_as_it_is() -> None:
    body = b'{"customerName": "Globex", "value": 150000, "tags": ["a"], "owner": null}'
    assert read_data(body, JSON) == {
        "customerName": "Globex",
        "value": 150000,
        "tags": ["a"],
        "owner": None,
    }


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"42", b"null"])
def test_json_that_is_not_an_object_is_refused_at_the_root(body: bytes) -> None:
    with pytest.raises(Rejected) as refused:
        read_data(body, JSON)
    assert refused.value.code == "invalid_body"
    assert [p.path for p in refused.value.problems] == ["$"]


@pytest.mark.parametrize("body", [b"", b"{", b'{"a": NaN}', b"\xff"])
def test_malformed_json_is_invalid_json(body: bytes) -> None:
    with pytest.raises(Rejected) as refused:
        read_data(body, JSON)
    assert refused.value.code == "invalid_json"


def test_a_form_is_a_flat_object_of_strings_and_a_repeated_name_a_list() -> None:
    body = b"customerName=Globex+Corp&value=150000&tag=a&tag=b&empty=&city=M%C3%BCnchen"
    assert read_data(body, FORM) == {
        "customerName": "Globex Corp",
        "value": "150000",
        "tag": ["a", "b"],
        "empty": "",
        "city": "München",
    }


def test_an_empty_form_is_empty_data() -> None:
    assert read_data(b"", FORM) == {}


@pytest.mark.parametrize("body", [b"justaword", b"a=1&&b=2", b"a=%ff", b"a=\xff"])
def test_a_malformed_form_is_invalid_form(body: bytes) -> None:
    with pytest.raises(Rejected) as refused:
        read_data(body, FORM)
    assert refused.value.code == "invalid_form"


def test_the_event_targets_the_workflow_with_a_fresh_id_per_request() -> None:
    first = hook_event(tenant_id="acme", workflow_id="wf_1", data={"a": 1}, key=None)
    second = hook_event(tenant_id="acme", workflow_id="wf_1", data={"a": 1}, key=None)
    assert (first.type, first.subject, first.tenantid, first.source) == (
        "webhook.received",
        "wf_1",
        "acme",
        "hook",
    )
    assert first.id != second.id


def test_a_named_delivery_has_the_same_id_each_time_for_its_workflow_only() -> None:
    def event_id(workflow_id: str, key: str) -> str:
        return hook_event(tenant_id="acme", workflow_id=workflow_id, data={}, key=key).id

    assert event_id("wf_1", "delivery-7") == event_id("wf_1", "delivery-7")
    assert event_id("wf_1", "delivery-7") != event_id("wf_2", "delivery-7")
    assert event_id("wf_1", "delivery-7") != event_id("wf_1", "delivery-8")


def test_idempotency_key_is_preferred_to_webhook_id_and_a_blank_one_is_refused() -> None:
    assert delivery_key({"Idempotency-Key": "k1", "webhook-id": "msg_1"}) == "k1"
    assert delivery_key({"webhook-id": "msg_1"}) == "msg_1"
    assert delivery_key({}) is None
    with pytest.raises(Rejected) as refused:
        delivery_key({"Idempotency-Key": "  "})
    assert [p.path for p in refused.value.problems] == ["header:Idempotency-Key"]


def test_data_the_envelope_cannot_carry_is_refused_naming_the_field() -> None:
    with pytest.raises(Rejected) as refused:
        hook_event(tenant_id="acme", workflow_id="wf_1", data={"note": "a\x00b"}, key=None)
    assert refused.value.code == "invalid_event"
    assert "data.note" in " ".join(f"{p.path} {p.message}" for p in refused.value.problems)


async def test_a_retried_delivery_is_published_once_and_a_failed_one_not_remembered() -> None:
    broker, store = Broker(), Remembered()
    request = {
        "tenant_id": "acme",
        "workflow_id": "wf_1",
        "raw": b'{"a": 1}',
        "content_type": JSON,
        "headers": {"Idempotency-Key": "delivery-1"},
    }
    broker.down = True
    with pytest.raises(ConnectionError):
        await accept_hook(broker, store, **request)  # type: ignore[arg-type]
    assert store.ids == set()

    broker.down = False
    first = await accept_hook(broker, store, **request)  # type: ignore[arg-type]
    again = await accept_hook(broker, store, **request)  # type: ignore[arg-type]
    assert (len(first.published), len(again.published), again.duplicates) == (1, 0, 1)
    assert first.events[0].id == again.events[0].id
    assert len(broker.published) == 1
