"""The scheduler's Kafka edges: time events out on ``events.normalized``, timers' requests out on
``executions.requested``; ``workflows.changelog``, ``events.normalized`` and
``executions.deferred`` in."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError
from pydantic import ValidationError

from services.scheduler.adapters.metrics import (
    CONTRACT_EVENTS_LEARNED,
    CONTRACT_EVENTS_REJECTED,
    RECORDS_SKIPPED,
    TIMERS_STORED,
)
from services.scheduler.adapters.postgres import PostgresChangelogProgress
from services.scheduler.domain import Clock, Timer, timer_from
from services.scheduler.handlers import (
    ContractStore,
    RevenueLedger,
    ScheduleStore,
    TenantZones,
    TimerStore,
    learn_events,
    learn_workflow_changes,
    store_timers,
)
from shared.contracts import (
    CloudEvent,
    DeferredExecution,
    ExecutionDeadLetter,
    Topics,
    WorkflowChange,
)
from shared.kafka import ConsumerLoop, Outgoing, RecordHandler, decode, publish_all
from shared.lifecycle import wait_out_outages
from shared.observability import instrumented

log = logging.getLogger(__name__)


class _Producing:
    """Publishes through ``producer``, which the service attaches once it is connected."""

    def __init__(self, topics: Topics) -> None:
        self._topics = topics
        self.producer: AIOKafkaProducer | None = None

    async def _publish(self, records: Sequence[Outgoing]) -> None:
        if self.producer is None:
            raise RuntimeError("records are published before the service connected to Kafka")
        await publish_all(self.producer, records)


class KafkaEventPublisher(_Producing):
    """``EventPublisher`` on ``events.normalized``, keyed by tenant id."""

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        topic = self._topics.events_normalized
        await self._publish([Outgoing.of(topic, event, key=event.tenantid) for event in events])


class KafkaRequestPublisher(_Producing):
    """``RequestPublisher`` on ``executions.requested``, keyed by workflow id: each timer's request
    as it was parked, byte for byte."""

    async def publish_requests(self, timers: Sequence[Timer]) -> None:
        topic = self._topics.executions_requested
        await self._publish(
            [Outgoing(topic, timer.request, timer.workflow_id.encode()) for timer in timers]
        )


class KafkaDeadLetters(_Producing):
    """Records of ``executions.deferred`` that are not a ``DeferredExecution`` go to
    ``executions.deadletter`` with the reason: a parked execution is never dropped silently."""

    async def dead_letter(self, letter: ExecutionDeadLetter, key: bytes | None) -> None:
        await self._publish([Outgoing.of(self._topics.executions_deadletter, letter, key)])


def _skipped(tp: TopicPartition, record: ConsumerRecord[bytes, bytes], error: Exception) -> None:
    RECORDS_SKIPPED.labels(tp.topic).inc()
    log.error(
        "record skipped: it does not decode",
        extra={
            "topic": tp.topic,
            "partition": tp.partition,
            "offset": record.offset,
            "error": str(error)[:500],
        },
    )


def changelog_record_handler(store: ScheduleStore, clock: Clock) -> RecordHandler:
    """The handler for ``workflows.changelog``: one partition's batch at once.

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
                _skipped(tp, record, error)
        await learn(store, changes, now=clock())

    return handle


def event_record_handler(
    *,
    contracts: ContractStore,
    revenue: RevenueLedger,
    zones: TenantZones,
    clock: Clock,
    marks: Sequence[int],
    revenue_types: Sequence[str],
) -> RecordHandler:
    """The handler for ``events.normalized``: contracts and revenue from one partition's batch.

    Nothing in an event's content stops the consumer: a record that is not an envelope is
    skipped (ingest validated it; the matcher sees it too), a contract event that cannot be used
    is recorded in ``contract_rejections``.
    """
    learn = instrumented("scheduler.learn_events")(learn_events)

    async def handle(tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        events: list[CloudEvent] = []
        for record in records:
            try:
                events.append(decode(CloudEvent, record.value))
            except (ValidationError, ValueError) as error:
                _skipped(tp, record, error)
        learned, rejected = await learn(
            events,
            contracts=contracts,
            revenue=revenue,
            zones=zones,
            now=clock(),
            marks=marks,
            revenue_types=revenue_types,
        )
        CONTRACT_EVENTS_LEARNED.inc(learned)
        CONTRACT_EVENTS_REJECTED.inc(rejected)

    return handle


def deferred_record_handler(
    store: TimerStore, dead_letters: KafkaDeadLetters, stored: Callable[[datetime], None]
) -> RecordHandler:
    """The handler for ``executions.deferred``: store each record as a timer, then tell
    ``stored`` the earliest due time among them (so the timer job wakes for it)."""
    save = instrumented("scheduler.store_timers")(store_timers)

    async def handle(tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        timers: list[Timer] = []
        for record in records:
            try:
                timers.append(timer_from(decode(DeferredExecution, record.value)))
            except (ValidationError, ValueError) as error:
                _skipped(tp, record, error)
                await dead_letters.dead_letter(_letter(record, error), record.key)
        earliest = await save(store, timers)
        TIMERS_STORED.inc(len(timers))
        if earliest is not None:
            stored(earliest)

    return handle


def _letter(record: ConsumerRecord[bytes, bytes], error: Exception) -> ExecutionDeadLetter:
    received = (record.value or b"").decode("utf-8", errors="replace")
    return ExecutionDeadLetter(
        request=None,
        received=received[:100_000],
        error={"code": "invalid_deferred_execution", "message": str(error)[:2000]},
    )


class ChangelogReader(ConsumerLoop):
    """A ``ConsumerLoop`` on ``workflows.changelog`` that also records how far it has read.

    Every ``check_seconds`` it notes the clock, asks the broker for its partitions' end offsets,
    and once it has learned every record before them, records that each of those partitions is
    read through the noted instant. Cron slots up to the slowest partition's instant may fire:
    a change published before a slot is always learned before the slot fires.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        handle: RecordHandler,
        progress: PostgresChangelogProgress,
        *,
        clock: Clock,
        check_seconds: float,
        grace_seconds: float,
    ) -> None:
        super().__init__(consumer, handle, name="workflows.changelog", grace_seconds=grace_seconds)
        self._progress = progress
        self._clock = clock
        self._check_seconds = check_seconds
        self._next_check = 0.0
        self._probe: tuple[datetime, dict[TopicPartition, int]] | None = None

    async def iteration(self) -> None:
        if self._probe is None and time.monotonic() >= self._next_check:
            assigned = list(self._consumer.assignment())
            if assigned:
                instant = self._clock()
                ends = await wait_out_outages(
                    functools.partial(self._consumer.end_offsets, assigned), what=self.name
                )
                self._probe = (instant, ends)
        await super().iteration()
        if self._probe is not None:
            await self._record_progress(*self._probe)

    async def _record_progress(self, instant: datetime, ends: dict[TopicPartition, int]) -> None:
        assigned = self._consumer.assignment()
        done: list[TopicPartition] = []
        for tp, end in ends.items():
            if tp not in assigned:
                done.append(tp)  # another reader owns it now and records it
                continue
            try:
                if await self._consumer.position(tp) >= end:
                    done.append(tp)
            except IllegalStateError:
                done.append(tp)  # revoked just now
        read = [tp.partition for tp in done if tp in assigned]
        if read:
            await wait_out_outages(
                functools.partial(self._progress.read_through, read, instant), what=self.name
            )
        for tp in done:
            ends.pop(tp)
        if not ends:
            self._probe = None
            self._next_check = time.monotonic() + self._check_seconds
