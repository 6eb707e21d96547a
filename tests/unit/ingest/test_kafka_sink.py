"""Ingest's Kafka sink answers within its deadline, whatever the producer does: a broker out of
reach in silence holds a record for several request timeouts, and a sender waits for ingest."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from services.ingest.adapters.kafka import KafkaEventSink
from shared.contracts import CloudEvent, EventDeadLetter, Topics


class SilentProducer:
    """Takes every record; no acknowledgement ever comes."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.unacknowledged: list[asyncio.Future[Any]] = []

    async def send(self, topic: str, value: bytes, **_: Any) -> asyncio.Future[Any]:
        self.sent.append(topic)
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.unacknowledged.append(ack)
        return ack


def sink(producer: SilentProducer) -> KafkaEventSink:
    sink = KafkaEventSink(Topics("t."), timeout_seconds=0.2)
    sink.producer = producer  # type: ignore[assignment]
    return sink


EVENT = CloudEvent(id="evt-1", source="native", type="webhook.received", tenantid="acme", data={})


async def test_a_publication_without_an_ack_fails_at_the_deadline() -> None:
    producer = SilentProducer()
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await sink(producer).publish([EVENT])
    assert time.monotonic() - started < 2
    assert producer.sent == ["t.events.normalized"]
    assert all(ack.cancelled() for ack in producer.unacknowledged)


async def test_a_dead_letter_without_an_ack_fails_at_the_deadline() -> None:
    producer = SilentProducer()
    letter = EventDeadLetter(received="{", tenant="acme", error={"code": "invalid_json"})
    with pytest.raises(TimeoutError):
        await sink(producer).dead_letter(letter, b"acme")
    assert producer.sent == ["t.events.deadletter"]
