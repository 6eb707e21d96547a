"""The faust stream over ``events.normalized``; publishing execution requests and dead letters."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from services.matcher.adapters.changelog import ChangelogReader
from services.matcher.domain import WorkflowIndex
from services.matcher.handlers import (
    Enrollments,
    ExecutionSink,
    Requested,
    request_executions,
)
from services.matcher.settings import MatcherSettings
from shared.contracts import CloudEvent, EventDeadLetter, ExecutionRequest, Topics
from shared.contracts.errors import validation_details
from shared.kafka import Outgoing, decode, send_all, tls_context
from shared.lifecycle import wait_out_outages
from shared.observability import instrumented
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

EVENTS_MATCHED = Counter(
    "matcher_events_matched_total", "Events that triggered at least one workflow.", ["type"]
)
EVENTS_UNMATCHED = Counter(
    "matcher_events_unmatched_total", "Events that triggered no workflow.", ["type"]
)
EXECUTIONS_REQUESTED = Counter(
    "matcher_executions_requested_total",
    "Execution requests published to executions.requested, by trigger.",
    ["trigger"],
)
EVENTS_REJECTED = Counter(
    "matcher_events_rejected_total", "Records of events.normalized that are not an envelope."
)
EVENTS_DEADLETTERED = Counter(
    "matcher_events_deadlettered_total",
    "Records of events.normalized sent to events.deadletter, by error code.",
    ["code"],
)
WORKFLOWS_UNREADABLE = Counter(
    "matcher_workflows_unreadable_total",
    "Matched workflows whose stored definition no longer validates (dropped from the index).",
)
MATCH_LATENCY = Histogram(
    "matcher_match_latency_seconds",
    "From an event's record timestamp (when it was produced) to the broker's ack of its requests.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)


class TopicsNotCoPartitioned(RuntimeError):
    """``events.normalized`` and ``workflows.changelog`` differ in partition count (SPEC §2)."""


async def verify_copartitioned(producer: AIOKafkaProducer, topics: Topics) -> int:
    """The partition count the two topics share; raises ``TopicsNotCoPartitioned`` otherwise."""
    events = len(await producer.partitions_for(topics.events_normalized))
    changelog = len(await producer.partitions_for(topics.workflows_changelog))
    if events != changelog:
        raise TopicsNotCoPartitioned(
            f"{topics.events_normalized} has {events} partitions and "
            f"{topics.workflows_changelog} has {changelog}: the matcher needs the same count on "
            "both, so that partition p of one holds the workflows of the tenants whose events "
            "are on partition p of the other"
        )
    return events


class KafkaDeadLetters:
    """Publishes the records of ``events.normalized`` the matcher cannot take, with the reason."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def dead_letter(
        self, record: faust.EventT[bytes], code: str, message: str, details: list[dict[str, str]]
    ) -> Awaitable[object]:
        """Hand the dead letter to the producer; return what completes once it is acknowledged."""
        key = record.message.key
        letter = EventDeadLetter(
            received=(record.message.value or b"").decode("utf-8", errors="replace"),
            tenant=key.decode("utf-8", errors="replace") if isinstance(key, bytes) else None,
            error={"code": code, "message": message, "details": details},
        )
        EVENTS_DEADLETTERED.labels(code).inc()
        log.error(
            "event dead-lettered",
            extra={
                "partition": record.message.partition,
                "offset": record.message.offset,
                "code": code,
                "error": message,
            },
        )
        return await send_all(
            self._producer,
            [Outgoing.of(self._topic, letter, key if isinstance(key, bytes) else None)],
        )


class KafkaExecutionSink(ExecutionSink):
    """Publishes requests keyed by workflow id through a producer with the tenant partitioner."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def request(self, requests: Sequence[ExecutionRequest]) -> Awaitable[object]:
        return await send_all(
            self._producer,
            (Outgoing.of(self._topic, request, key=request.workflow_id) for request in requests),
        )


# faust builds its group consumer with ``fetch_max_wait_ms=1500`` and no way to change it, so
# every event could wait 1.5 s in a long poll (the embedded broker always sleeps the full wait).
# The apps built here get ``KafkaSettings.fetch_max_wait_ms`` instead; other apps keep faust's.
_FETCH_MAX_WAIT_MS: dict[str, int] = {}


def _with_configured_fetch_wait(
    create: Callable[[Any, Any], AIOKafkaConsumer],
) -> Callable[[Any, Any], AIOKafkaConsumer]:
    @functools.wraps(create)
    def create_worker_consumer(thread: Any, transport: Any) -> AIOKafkaConsumer:
        consumer = create(thread, transport)
        wait_ms = _FETCH_MAX_WAIT_MS.get(thread.app.conf.id)
        if wait_ms is not None:
            consumer._fetch_max_wait_ms = wait_ms
        return consumer

    create_worker_consumer.configured_fetch_wait = True  # type: ignore[attr-defined]
    return create_worker_consumer


def configure_fetch_wait(app_id: str, wait_ms: int) -> None:
    """Give the faust app ``app_id``'s group consumer ``fetch_max_wait_ms=wait_ms``.

    This reaches into faust (``AIOKafkaConsumerThread._create_worker_consumer``) and aiokafka
    (``AIOKafkaConsumer._fetch_max_wait_ms``, read when the consumer starts), which offer no
    setting for it: ``tests/integration/matcher/test_faust_internals.py`` fails when an upgrade
    of either breaks it.
    """
    _FETCH_MAX_WAIT_MS[app_id] = wait_ms
    create = AIOKafkaConsumerThread._create_worker_consumer
    if not getattr(create, "configured_fetch_wait", False):
        AIOKafkaConsumerThread._create_worker_consumer = _with_configured_fetch_wait(  # type: ignore[method-assign, assignment]
            create
        )


async def _seek_to_committed_or_beginning(thread: Any) -> Mapping[Any, int | None]:
    """``AIOKafkaConsumerThread.seek_to_committed``, that also rewinds what has no commit.

    faust drops what it fetched while its flow is stopped (a rebalance, its recovery) and
    rewinds by seeking every partition to its committed offset. aiokafka's
    ``seek_to_committed`` leaves a partition with no commit (or one at 0) where it is, which
    is past the records dropped: a partition this instance had read from its start and not yet
    committed lost them for good (seen in a loaded e2e run: ~100 events of each partition the
    survivor kept when the other matcher left). Such a partition starts again from its
    beginning, where ``consumer_auto_offset_reset="earliest"`` started it.
    """
    consumer = thread._ensure_consumer()

    async def seek() -> Mapping[Any, int | None]:
        committed: Mapping[Any, int | None] = await consumer.seek_to_committed()
        uncommitted = [tp for tp, offset in committed.items() if not offset or offset < 0]
        if uncommitted:
            await consumer.seek_to_beginning(*uncommitted)
        return committed

    return cast("Mapping[Any, int | None]", await thread.call_thread(seek))


def rewind_uncommitted_partitions() -> None:
    """Install ``_seek_to_committed_or_beginning`` in faust's aiokafka consumer thread (once).

    Like ``configure_fetch_wait``, this reaches into faust: ``tests/unit/matcher/
    test_faust_seek.py`` fails when an upgrade moves what it replaces.
    """
    if getattr(AIOKafkaConsumerThread.seek_to_committed, "rewinds_uncommitted", False):
        return
    _seek_to_committed_or_beginning.rewinds_uncommitted = True  # type: ignore[attr-defined]
    AIOKafkaConsumerThread.seek_to_committed = _seek_to_committed_or_beginning  # type: ignore[method-assign, assignment]


def broker_credentials(kafka: KafkaSettings) -> faust.types.auth.CredentialsT | None:
    """faust's form of the TLS and SASL settings every other client gets from
    ``shared.kafka.security_options`` (faust builds its own aiokafka clients from these)."""
    context = tls_context(kafka)
    if kafka.uses_sasl:
        return faust.SASLCredentials(
            username=kafka.sasl_username,
            password=kafka.sasl_password.get_secret_value(),
            ssl_context=context,  # SASL_SSL with a context, SASL_PLAINTEXT without
            mechanism=kafka.sasl_mechanism,
        )
    return faust.SSLCredentials(context) if context is not None else None


class EventStream:
    """The faust app that turns each event of ``events.normalized`` into execution requests.

    Events are taken in batches (whatever arrived while the previous batch was matched, at
    most ``max_batch``). Before a batch is matched, the changelog reader reads each of its
    partitions up to the end offset the broker reports *after* the batch was taken
    (``ChangelogReader.caught_up``): every workflow saved before its events were accepted is
    in the index (read your writes), at the cost of one round trip per batch.

    A record that is not an envelope, or an event that cannot be processed, goes to
    ``events.deadletter`` with the reason, and the partition flows on; an event whose matching
    fails because PostgreSQL (enrollments) or the broker is unreachable is matched again once it
    is back (``wait_out_outages``), holding up the events behind it. Events are acked, so
    that their offsets may be committed, in the order they arrived and each only once the
    broker acknowledged its requests or its dead letter (at-least-once; what the broker did
    not acknowledge in time is handed over again until it is); up to
    ``max_events_in_flight`` events wait for that at a time. An event taken before a rebalance
    began is never acked after it (every partition is revoked, eager rebalancing): the
    partition's next owner, this instance or another, reads it again from the committed
    offset. faust's assignment signals drive the reader. ``watch()`` raises if the agent, a
    delivery or faust itself fails.
    """

    def __init__(
        self,
        settings: MatcherSettings,
        topics: Topics,
        workflows: ChangelogReader,
        sink: ExecutionSink,
        enrollments: Enrollments,
        dead_letters: KafkaDeadLetters,
        *,
        data_dir: Path,
    ) -> None:
        kafka = settings.kafka
        self._topic = topics.events_normalized
        self._workflows = workflows
        self._sink = sink
        self._enrollments = enrollments
        self._dead_letters = dead_letters
        self._max_in_flight = settings.max_events_in_flight
        self._max_batch = settings.max_batch
        self._grace_seconds = settings.shutdown_grace_seconds
        self._draining = False
        self._taking: asyncio.Task[None] | None = None
        self._idle_taker = False
        self._checked: asyncio.Queue[_Checked] | None = None
        self._in_flight: asyncio.Queue[_InFlight] | None = None
        self._failure: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        configure_fetch_wait(settings.consumer_group, kafka.fetch_max_wait_ms)
        rewind_uncommitted_partitions()
        self.app = faust.App(
            settings.consumer_group,
            # faust lets environment variables (BROKER, TOPIC_PARTITIONS, …) override what it is
            # given; configuration is read once, by ``__main__``, so it sees no environment.
            env={},
            broker=[f"kafka://{server}" for server in kafka.bootstrap_servers.split(",")],
            broker_client_id=settings.consumer_group,
            broker_credentials=broker_credentials(kafka),
            broker_session_timeout=kafka.session_timeout_ms / 1000,
            broker_heartbeat_interval=kafka.heartbeat_interval_ms / 1000,
            broker_request_timeout=kafka.request_timeout_ms / 1000,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            store="memory://",
            web_enabled=False,
            datadir=data_dir,
            topic_partitions=kafka.topic_partitions,
            # The service creates and checks its topics; faust's leader topic serves timers and
            # tasks that run on one worker only, which the matcher has none of.
            topic_allow_declare=False,
            topic_disable_leader=True,
            # Events waiting for a revoked partition are never acked: waiting for every event
            # to be acked would hold a rebalance or a shutdown for nothing.
            stream_wait_empty=False,
        )
        topic = self.app.topic(self._topic, key_serializer="raw", value_serializer="raw")
        self.app.agent(topic, name="match-events")(self._match_events)
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self.app.on_partitions_revoked.connect(self._on_revoked)

    async def start(self) -> None:
        await self.app.start()

    async def stop(self) -> None:
        """Stop matching, let the events in flight be acknowledged (within the grace period),
        stop consuming and commit what was acked. Idempotent. Events taken but not yet
        matched, or not acknowledged in time, are redelivered to the partition's next owner
        (with the same execution ids)."""
        await self._drain()
        await self.app.stop()
        if not self._failure.done():
            self._failure.cancel()  # what fails from here on is part of stopping
        # Signal receivers are kept on the class, keyed by app: let them go with the app.
        self.app.on_partitions_assigned.disconnect(self._on_assigned)
        self.app.on_partitions_revoked.disconnect(self._on_revoked)

    async def watch(self) -> None:
        """Return when the app is stopped; raise when the agent, a delivery or the app failed."""
        stopped = asyncio.ensure_future(self.app.wait_until_stopped())
        try:
            await asyncio.wait([stopped, self._failure], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if self._failure.done() and not self._failure.cancelled():
            self._failure.result()
        if self.app.crashed:
            raise RuntimeError("the faust app crashed") from self.app.crash_reason

    async def _drain(self) -> None:
        self._draining = True
        taking, checked, in_flight = self._taking, self._checked, self._in_flight
        if taking is None or checked is None or in_flight is None or self._failure.done():
            return
        if self._idle_taker:
            taking.cancel()
        try:
            async with asyncio.timeout(self._grace_seconds):
                await asyncio.gather(taking, return_exceptions=True)
                await checked.join()
                await in_flight.join()
        except TimeoutError:
            log.warning(
                "events still in flight at shutdown; they are redelivered",
                extra={"grace_seconds": self._grace_seconds},
            )

    def _fail(self, error: BaseException) -> None:
        if not self._failure.done():
            self._failure.set_exception(error)

    async def _on_assigned(self, _app: faust.App, /, *args: Any, **_: Any) -> None:
        (assigned,) = args
        await self._workflows.assign(tp.partition for tp in assigned if tp.topic == self._topic)

    async def _on_revoked(self, _app: faust.App, /, *args: Any, **_: Any) -> None:
        (revoked,) = args
        self._workflows.revoke(tp.partition for tp in revoked if tp.topic == self._topic)

    async def _match_events(self, stream: faust.StreamT[bytes]) -> None:
        # ``noack`` is missing from faust's StreamT; every agent stream is a Stream.
        events = cast("faust.Stream[bytes]", stream).noack()
        taken: asyncio.Queue[_Taken] = asyncio.Queue(maxsize=self._max_batch)
        checked: asyncio.Queue[_Checked] = asyncio.Queue(maxsize=_CHECKS_AHEAD)
        in_flight: asyncio.Queue[_InFlight] = asyncio.Queue(maxsize=self._max_in_flight)
        self._checked, self._in_flight = checked, in_flight
        self._taking = asyncio.create_task(self._take_batches(taken, checked))
        workers = [
            self._taking,
            asyncio.create_task(self._match_checked(checked, in_flight)),
            asyncio.create_task(self._ack_in_order(events, in_flight)),
        ]
        try:
            async for record in events.events():
                await taken.put(_Taken(record, self.app.rebalancing_count))
        except Exception as error:
            self._fail(error)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            while not checked.empty():
                checked.get_nowait().check.cancel()

    async def _take_batches(
        self, taken: asyncio.Queue[_Taken], checked: asyncio.Queue[_Checked]
    ) -> None:
        """Take what arrived as one batch and start its changelog check at once; the check
        runs while the batch before is matched. The next batch is taken when the check is
        answered: one check in flight, so that what arrives meanwhile makes one batch (its
        round trip is shared by more events the busier the stream)."""
        try:
            while not self._draining:
                self._idle_taker = True
                first = await taken.get()
                self._idle_taker = False
                batch = [first]
                while len(batch) < self._max_batch and not taken.empty():
                    batch.append(taken.get_nowait())
                partitions = {item.record.message.partition for item in batch}
                check = asyncio.create_task(self._workflows.caught_up(partitions))
                await checked.put(_Checked(batch, check))
                await asyncio.wait([check])
        except Exception as error:
            self._fail(error)

    async def _match_checked(
        self, checked: asyncio.Queue[_Checked], in_flight: asyncio.Queue[_InFlight]
    ) -> None:
        try:
            while True:
                pending = await checked.get()
                await self._match_batch(pending.batch, await pending.check, in_flight)
                checked.task_done()
        except Exception as error:
            self._fail(error)

    async def _match_batch(
        self,
        batch: list[_Taken],
        indexes: dict[int, WorkflowIndex | None],
        in_flight: asyncio.Queue[_InFlight],
    ) -> None:
        handle = instrumented("matcher.request_executions")(request_executions)
        for taken in batch:
            record = taken.record
            workflows = indexes.get(record.message.partition)
            if workflows is None:
                continue  # revoked: the partition's next owner takes the event
            try:
                event = decode(CloudEvent, record.value)
            except (ValidationError, ValueError) as error:
                EVENTS_REJECTED.inc()
                await self._hand_over(
                    in_flight, taken, functools.partial(self._rejected, record, error)
                )
                continue
            match = functools.partial(handle, workflows, self._sink, self._enrollments, event)
            try:
                requested = await wait_out_outages(match, what="events.normalized")
            except ValueError as error:  # data that made a request invalid; never a crash
                dead_letter = functools.partial(
                    self._dead_letters.dead_letter,
                    record,
                    "unprocessable_event",
                    str(error),
                    _details(error),
                )
                await self._hand_over(in_flight, taken, dead_letter)
                continue
            if requested.unreadable:
                WORKFLOWS_UNREADABLE.inc(requested.unreadable)
            again = functools.partial(_delivery_of, match)
            await in_flight.put(_InFlight(taken, requested.delivered, again, event, requested))

    async def _hand_over(
        self, in_flight: asyncio.Queue[_InFlight], taken: _Taken, send: _Send
    ) -> None:
        delivered = await wait_out_outages(send, what="events.deadletter")
        await in_flight.put(_InFlight(taken, delivered, send))

    async def _rejected(self, record: faust.EventT[bytes], error: ValueError) -> Awaitable[object]:
        return await self._dead_letters.dead_letter(
            record,
            "invalid_envelope",
            "the record on events.normalized is not an event envelope",
            _details(error),
        )

    async def _ack_in_order(
        self, stream: faust.StreamT[bytes], in_flight: asyncio.Queue[_InFlight]
    ) -> None:
        # Acks must not overtake each other within a partition: faust commits past an unacked
        # offset that directly follows the committed one (``Consumer._new_offset``).
        try:
            while True:
                pending = await in_flight.get()
                await self._acknowledged(pending)
                if pending.event is not None and pending.requested is not None:
                    if requests := pending.requested.requests:
                        EVENTS_MATCHED.labels(pending.event.type).inc()
                        EXECUTIONS_REQUESTED.labels(pending.event.type).inc(len(requests))
                    else:
                        EVENTS_UNMATCHED.labels(pending.event.type).inc()
                    latency = time.time() - pending.taken.record.message.timestamp
                    MATCH_LATENCY.observe(max(0.0, latency))
                # faust forgets its committed offsets when a rebalance begins and, until it
                # seeks them again, would take an ack of an event taken before it as the
                # partition's progress, and could commit it past the events it dropped from
                # its buffers meanwhile. The event is read again instead.
                if pending.taken.rebalance == self.app.rebalancing_count:
                    await stream.ack(pending.taken.record)
                in_flight.task_done()
        except Exception as error:
            self._fail(error)

    async def _acknowledged(self, pending: _InFlight) -> None:
        """Until the broker acknowledged what ``pending`` handed over. While the broker is
        unreachable (the ack timed out) it is handed over again — the same requests, with the
        same execution ids, or the same dead letter — so the event is never acked without its
        output, and the matcher carries on once the broker is back."""
        deliveries = [pending.delivered]

        async def delivered() -> None:
            await (deliveries.pop() if deliveries else await pending.send())

        await wait_out_outages(delivered, what="executions.requested")


async def _delivery_of(match: Callable[[], Awaitable[Requested]]) -> Awaitable[object]:
    return (await match()).delivered


def _details(error: ValueError) -> list[dict[str, str]]:
    if isinstance(error, ValidationError):
        return validation_details(error)
    return [{"path": "$", "message": str(error)}]


_CHECKS_AHEAD = 2
"""Batches taken and checked (or being checked) ahead of the one being matched."""


@dataclass(frozen=True, slots=True)
class _Taken:
    """An event as faust handed it over, in the ``rebalance`` (``App.rebalancing_count``) then."""

    record: faust.EventT[bytes]
    rebalance: int


@dataclass(frozen=True, slots=True)
class _Checked:
    """A batch taken, and its changelog check (started when it was taken)."""

    batch: list[_Taken]
    check: asyncio.Task[dict[int, WorkflowIndex | None]]


_Send = Callable[[], Awaitable[Awaitable[object]]]
"""Hand an event's output (its requests, or its dead letter) to the producer; returns what
completes once the broker acknowledged it."""


@dataclass(frozen=True, slots=True)
class _InFlight:
    """An event to ack once ``delivered`` (its requests, or its dead letter) is acknowledged;
    ``send`` hands them over again."""

    taken: _Taken
    delivered: Awaitable[object]
    send: _Send
    event: CloudEvent | None = None
    requested: Requested | None = None
