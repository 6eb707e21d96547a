"""Publishing envelopes and dead letters; reading ``events.inbound``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from prometheus_client import Counter

from services.ingest.handlers import EventSink, PublishedEvents, accept_inbound_record
from shared.contracts import CloudEvent, EventDeadLetter, Topics
from shared.kafka import Outgoing, RecordHandler, publish_all
from shared.observability import instrumented

EVENTS_DEADLETTERED = Counter(
    "ingest_events_deadlettered_total", "Records written to events.deadletter.", ["code"]
)


class KafkaEventSink(EventSink):
    """Publishes through ``producer``, which the service attaches once it is connected.

    Every publication is bounded by ``timeout_seconds`` (the Kafka request timeout): the
    producer alone may hold a record far longer when the broker is silently out of reach
    (measured: four request timeouts, as it reconnects and sends again), and a sender waiting
    on ingest must get its 503 in a bounded time. A record the broker acknowledges after the
    deadline is on the topic although the answer was a 503: the sender's retry publishes it
    again, and the pipeline's deterministic ids make that one execution.
    """

    def __init__(self, topics: Topics, *, timeout_seconds: float | None = None) -> None:
        self._topics = topics
        self._timeout = timeout_seconds
        self.producer: AIOKafkaProducer | None = None

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            raise RuntimeError("the sink is used before the service connected to Kafka")
        return self.producer

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        topic = self._topics.events_normalized
        async with asyncio.timeout(self._timeout):
            await publish_all(
                self._producer, (Outgoing.of(topic, event, key=event.tenantid) for event in events)
            )

    async def dead_letter(self, letter: EventDeadLetter, key: bytes | None) -> None:
        async with asyncio.timeout(self._timeout):
            await publish_all(
                self._producer, [Outgoing.of(self._topics.events_deadletter, letter, key)]
            )
        EVENTS_DEADLETTERED.labels(str(letter.error.get("code"))).inc()


def inbound_record_handler(
    sink: EventSink, store: PublishedEvents, *, max_events: int
) -> RecordHandler:
    """The ``ConsumerLoop`` handler for ``events.inbound``: records in order, one by one.

    A record that cannot be accepted is dead-lettered with its reason and the partition moves on.
    """
    accept = instrumented("events.inbound")(accept_inbound_record)

    async def handle(_tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            headers = {name: raw.decode("utf-8", "replace") for name, raw in record.headers or ()}
            await accept(sink, store, record.value, record.key, headers, max_events=max_events)

    return handle
