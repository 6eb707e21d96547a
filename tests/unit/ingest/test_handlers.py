"""``accept``: ids remembered only after the broker's ack, duplicates not published again."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from services.ingest.handlers import EventSink, PublishedEvents, accept
from shared.contracts import CloudEvent, EventDeadLetter

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sources"


class Broker(EventSink):
    def __init__(self) -> None:
        self.published: list[CloudEvent] = []
        self.letters: list[EventDeadLetter] = []
        self.down = False

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        if self.down:
            raise ConnectionError("no acks")
        self.published.extend(events)

    async def dead_letter(self, letter: EventDeadLetter, key: bytes | None) -> None:
        self.letters.append(letter)


class Remembered(PublishedEvents):
    def __init__(self) -> None:
        self.ids: set[tuple[str, str]] = set()

    async def published(self, tenant_id: str, event_ids: Sequence[str]) -> set[str]:
        return {i for i in event_ids if (tenant_id, i) in self.ids}

    async def remember(self, tenant_id: str, event_ids: Sequence[str]) -> None:
        self.ids.update((tenant_id, i) for i in event_ids)


async def test_a_failed_publish_is_not_remembered_so_the_vendors_retry_is_published() -> None:
    broker, store = Broker(), Remembered()
    raw = (FIXTURES / "hubspot" / "webhook-batch.json").read_bytes()
    broker.down = True
    with pytest.raises(ConnectionError):
        await accept(broker, store, source="hubspot", raw=raw, tenant_id="acme", max_events=10)
    assert store.ids == set()

    broker.down = False
    first = await accept(broker, store, source="hubspot", raw=raw, tenant_id="acme", max_events=10)
    assert (len(first.published), first.duplicates) == (2, 0)
    again = await accept(broker, store, source="hubspot", raw=raw, tenant_id="acme", max_events=10)
    assert (len(again.published), again.duplicates) == (0, 2)
    assert len(broker.published) == 2


class SlowBroker(Broker):
    """Acks after a yield to the loop, as a real broker does: concurrent inputs interleave."""

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        await asyncio.sleep(0.01)
        await super().publish(events)


async def test_concurrent_deliveries_of_one_event_publish_it_once() -> None:
    broker, store = SlowBroker(), Remembered()
    raw = (FIXTURES / "aws" / "offer-released.json").read_bytes()
    answers = await asyncio.gather(
        *(
            accept(broker, store, source="aws", raw=raw, tenant_id="acme", max_events=10)
            for _ in range(10)
        )
    )
    assert len(broker.published) == 1
    assert sorted(len(a.published) for a in answers) == [0] * 9 + [1]
    assert {a.events[0].id for a in answers} == {broker.published[0].id}
    other = await accept(broker, store, source="aws", raw=raw, tenant_id="globex", max_events=10)
    assert len(other.published) == 1, "another tenant's event of the same id is its own"


async def test_a_batch_repeating_an_event_publishes_it_once() -> None:
    broker, store = Broker(), Remembered()
    raw = (FIXTURES / "hubspot" / "sensitive-property-change.json").read_bytes()
    twice = b"[" + raw.strip()[1:-1] + b"," + raw.strip()[1:-1] + b"]"
    accepted = await accept(
        broker, store, source="hubspot", raw=twice, tenant_id="acme", max_events=10
    )
    assert (len(accepted.events), len(accepted.published), accepted.duplicates) == (2, 1, 1)


async def test_a_notice_is_recorded_with_the_request_headers_but_no_credentials() -> None:
    broker, store = Broker(), Remembered()
    raw = (FIXTURES / "aws" / "sns-subscription-confirmation.json").read_bytes()
    headers = {
        "Authorization": "Basic c2VjcmV0",
        "x-amz-sns-message-type": "SubscriptionConfirmation",
    }
    accepted = await accept(
        broker, store, source="aws", raw=raw, tenant_id="acme", max_events=10, headers=headers
    )
    assert accepted.events == []
    [letter] = broker.letters
    assert letter.headers == {"x-amz-sns-message-type": "SubscriptionConfirmation"}
    assert letter.received == raw.decode()
    assert letter.error["code"] == "sns_subscription_confirmation"
