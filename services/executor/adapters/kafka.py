"""Reading ``executions.requested`` and ``events.normalized``; publishing to
``executions.deferred`` and ``executions.deadletter``; the executor's metrics."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import MessageSizeTooLargeError
from prometheus_client import Counter, Gauge
from pydantic import ValidationError

from services.executor.handlers import (
    DeadLetterSink,
    Deferrals,
    Engine,
    ReceivedEvent,
    RunReport,
    Undeliverable,
    WaitingExecutions,
    accept_execution_record,
    end_waiting_executions,
)
from shared.contracts import (
    CloudEvent,
    DeferredExecution,
    ExecutionDeadLetter,
    Topics,
)
from shared.kafka import Outgoing, RecordHandler, RecordWork, decode, publish_all
from shared.observability import instrumented

log = logging.getLogger(__name__)

EXECUTIONS_FINISHED = Counter(
    "executor_executions_finished_total",
    "Executions that reached a status, by status (waiting: parked in a durable timer).",
    ["status"],
)
EXECUTIONS_DEADLETTERED = Counter(
    "executor_executions_deadlettered_total",
    "Records and failed executions sent to executions.deadletter, by error code.",
    ["code"],
)
EXECUTIONS_IN_FLIGHT = Gauge(
    "executor_executions_in_flight", "Execution requests being handled right now."
)
STEP_RETRIES = Counter(
    "executor_step_retries_total", "Attempts of a step made again after a transient failure."
)
EXECUTIONS_THROTTLED = Counter(
    "executor_executions_throttled_total",
    "Executions held back by their workflow's rate limit, by throttleAction (dropped, queued).",
    ["action"],
)
EXECUTIONS_PARKED = Counter(
    "executor_executions_parked_total",
    "Executions parked in a durable timer, by reason (delay, queue, retry).",
    ["reason"],
)
DESTINATIONS_PAUSED = Counter(
    "executor_destination_pauses_total",
    "Rate-limit answers (429 with Retry-After, Slack's ratelimited) that paused a destination.",
)
EXECUTIONS_EXITED = Counter(
    "executor_executions_exited_total", "Waiting executions ended by their exit conditions."
)


def _observe(report: RunReport) -> None:
    if report.status is not None:
        EXECUTIONS_FINISHED.labels(report.status).inc()
    if report.retries:
        STEP_RETRIES.inc(report.retries)
    if report.throttled is not None:
        EXECUTIONS_THROTTLED.labels(report.throttled).inc()
    if report.parked is not None:
        EXECUTIONS_PARKED.labels(report.parked).inc()
    if report.paused:
        DESTINATIONS_PAUSED.inc(len(report.paused))


class _Publisher:
    """Publishes through ``producer``, which the service attaches once it is connected."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self.producer: AIOKafkaProducer | None = None

    async def _publish(self, record: Outgoing) -> None:
        if self.producer is None:
            raise RuntimeError("published before the service connected to Kafka")
        await publish_all(self.producer, [record])


class KafkaDeadLetters(_Publisher, DeadLetterSink):
    """Dead letters on ``executions.deadletter``. One too large for the broker goes without
    its request, with the start of what was received, so that it is never lost."""

    async def dead_letter(self, letter: ExecutionDeadLetter, key: bytes | None) -> None:
        topic = self._topics.executions_deadletter
        try:
            await self._publish(Outgoing.of(topic, letter, key))
        except MessageSizeTooLargeError:
            received = letter.request.model_dump_json() if letter.request else letter.received
            smaller = ExecutionDeadLetter(
                request=None,
                received=(received or "")[:10_000],
                error={**letter.error, "truncated": True},
                failed_at=letter.failed_at,
            )
            await self._publish(Outgoing.of(topic, smaller, key))
        EXECUTIONS_DEADLETTERED.labels(str(letter.error.get("code"))).inc()


class KafkaDeferrals(_Publisher, Deferrals):
    """Parked executions on ``executions.deferred``, keyed by workflow id (the scheduler's
    durable timers hand them back on ``executions.requested``)."""

    async def defer(self, parked: DeferredExecution) -> None:
        record = Outgoing.of(
            self._topics.executions_deferred, parked, key=parked.request.workflow_id
        )
        try:
            await self._publish(record)
        except MessageSizeTooLargeError as error:
            raise Undeliverable(
                f"the parked execution is too large for the broker: {error}"
            ) from error


def execution_record_handler(engine: Engine) -> RecordWork:
    """The ``ConcurrentConsumerLoop`` handler for ``executions.requested``: one record, run to
    where it ends or parks; records of a partition run concurrently."""

    @instrumented("executions.requested")
    async def accept(value: bytes | None, key: bytes | None) -> RunReport:
        return await accept_execution_record(value, key, engine)

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        EXECUTIONS_IN_FLIGHT.inc()
        try:
            _observe(await accept(record.value, record.key))
        finally:
            EXECUTIONS_IN_FLIGHT.dec()

    return handle


def exit_record_handler(waiting: WaitingExecutions) -> RecordHandler:
    """The ``ConsumerLoop`` handler for ``events.normalized`` (the executor's own group): ends
    the waiting executions whose exit conditions a batch's events meet. A record that is no
    envelope is skipped (ingest and the matcher report those)."""

    @instrumented("executor.exit_conditions")
    async def end(received: list[ReceivedEvent]) -> int:
        return await end_waiting_executions(received, waiting)

    async def handle(_tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        received: list[ReceivedEvent] = []
        for record in records:
            try:
                event = decode(CloudEvent, record.value)
            except (ValidationError, ValueError):
                continue
            appended_at = datetime.fromtimestamp(record.timestamp / 1000, UTC)
            received.append(ReceivedEvent(event, appended_at))
        if received:
            EXECUTIONS_EXITED.inc(await end(received))

    return handle
