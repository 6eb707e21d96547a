"""Publishing ``schedule.cron`` events on ``events.normalized``; reading ``workflows.changelog``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from prometheus_client import Counter
from pydantic import ValidationError

from services.scheduler.domain import Clock
from services.scheduler.handlers import ScheduleStore, learn_workflow_changes
from shared.contracts import CloudEvent, Topics, WorkflowChange
from shared.kafka import Outgoing, RecordHandler, decode, publish_all
from shared.observability import instrumented

log = logging.getLogger(__name__)

CHANGELOG_RECORDS_REJECTED = Counter(
    "scheduler_changelog_records_rejected_total",
    "workflows.changelog records that are not a valid WorkflowChange and were skipped.",
)


class KafkaEventPublisher:
    """``EventPublisher`` on ``events.normalized``, keyed by tenant id.

    The producer is attached by the service once it is connected.
    """

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self.producer: AIOKafkaProducer | None = None

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        if self.producer is None:
            raise RuntimeError("events are published before the service connected to Kafka")
        topic = self._topics.events_normalized
        await publish_all(
            self.producer, (Outgoing.of(topic, event, key=event.tenantid) for event in events)
        )


def changelog_record_handler(store: ScheduleStore, clock: Clock) -> RecordHandler:
    """The ``ConsumerLoop`` handler for ``workflows.changelog``: one partition's batch at once.

    A record that is not a valid ``WorkflowChange`` is logged and skipped rather than stopping the
    service: the changelog is never compacted, so a failure here would repeat on every restart.
    """
    learn = instrumented("scheduler.learn_workflow_changes")(learn_workflow_changes)

    async def handle(tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        changes: list[WorkflowChange] = []
        for record in records:
            try:
                changes.append(decode(WorkflowChange, record.value))
            except (ValidationError, ValueError) as error:
                CHANGELOG_RECORDS_REJECTED.inc()
                log.error(
                    "changelog record skipped: not a WorkflowChange",
                    extra={
                        "topic": tp.topic,
                        "partition": tp.partition,
                        "offset": record.offset,
                        "error": str(error),
                    },
                )
        await learn(store, changes, now=clock())

    return handle
