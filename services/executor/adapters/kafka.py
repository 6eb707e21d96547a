"""Reading ``executions.requested``; publishing to ``executions.deadletter``."""

from __future__ import annotations

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from prometheus_client import Counter

from services.executor.domain import ExecutionStatus, RetryPolicy
from services.executor.handlers import (
    ActionRegistry,
    DeadLetterSink,
    ExecutionStore,
    FailureNotifier,
    accept_execution_record,
)
from shared.contracts import ExecutionDeadLetter, Topics
from shared.kafka import Outgoing, RecordHandler, publish_all
from shared.observability import instrumented

EXECUTIONS_FINISHED = Counter(
    "executor_executions_finished_total", "Executions finished, by status.", ["status"]
)
EXECUTIONS_DEADLETTERED = Counter(
    "executor_executions_deadlettered_total",
    "Records and failed executions sent to executions.deadletter, by error code.",
    ["code"],
)


class KafkaDeadLetters(DeadLetterSink):
    """Publishes through ``producer``, which the service attaches once it is connected."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self.producer: AIOKafkaProducer | None = None

    async def dead_letter(self, letter: ExecutionDeadLetter, key: bytes | None) -> None:
        if self.producer is None:
            raise RuntimeError("dead letter sent before the service connected to Kafka")
        await publish_all(
            self.producer, [Outgoing.of(self._topics.executions_deadletter, letter, key)]
        )
        EXECUTIONS_DEADLETTERED.labels(str(letter.error.get("code"))).inc()


def execution_record_handler(
    *,
    store: ExecutionStore,
    actions: ActionRegistry,
    dead_letters: DeadLetterSink,
    retry: RetryPolicy,
    notifier: FailureNotifier | None = None,
) -> RecordHandler:
    """The ``ConsumerLoop`` handler for ``executions.requested``: each partition's records in
    order, one execution at a time (partitions run concurrently)."""

    @instrumented("executions.requested")
    async def accept(value: bytes | None, key: bytes | None) -> ExecutionStatus | None:
        return await accept_execution_record(
            value,
            key,
            store=store,
            actions=actions,
            dead_letters=dead_letters,
            retry=retry,
            notifier=notifier,
        )

    async def handle(_tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        for record in records:
            status = await accept(record.value, record.key)
            if status is not None:
                EXECUTIONS_FINISHED.labels(status).inc()

    return handle
