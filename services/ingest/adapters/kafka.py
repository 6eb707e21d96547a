"""Publishing envelopes and dead letters; reading ``events.inbound``."""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from prometheus_client import Counter

from services.ingest.handlers import EventSink, accept_inbound_record
from shared.contracts import CloudEvent, EventDeadLetter, Topics
from shared.kafka import Outgoing, RecordHandler, publish_all

EVENTS_PUBLISHED = Counter(
    "ingest_events_published_total", "Events published to events.normalized.", ["source", "type"]
)
EVENTS_DEADLETTERED = Counter(
    "ingest_events_deadlettered_total", "Inputs sent to events.deadletter.", ["code"]
)


class KafkaEventSink(EventSink):
    """Publishes through ``producer``, which the service attaches once it is connected."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self.producer: AIOKafkaProducer | None = None

    @property
    def _producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            raise RuntimeError("the sink is used before the service connected to Kafka")
        return self.producer

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        topic = self._topics.events_normalized
        await publish_all(
            self._producer, (Outgoing.of(topic, event, key=event.tenantid) for event in events)
        )
        for event in events:
            EVENTS_PUBLISHED.labels(event.source, event.type).inc()

    async def dead_letter(self, letter: EventDeadLetter, key: bytes | None) -> None:
        await publish_all(
            self._producer, [Outgoing.of(self._topics.events_deadletter, letter, key)]
        )
        EVENTS_DEADLETTERED.labels(str(letter.error.get("code"))).inc()


def inbound_record_handler(sink: EventSink) -> RecordHandler:
    """The ``ConsumerLoop`` handler for ``events.inbound``: records in order, one by one."""

    async def handle(_tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            headers = {name: raw.decode("utf-8", "replace") for name, raw in record.headers or ()}
            await accept_inbound_record(sink, record.value, record.key, headers)

    return handle
