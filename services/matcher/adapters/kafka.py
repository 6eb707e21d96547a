"""The faust stream over ``events.normalized`` and the publishing of execution requests."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import faust
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from prometheus_client import Counter, Histogram
from pydantic import ValidationError

from services.matcher.adapters.changelog import ChangelogReader
from services.matcher.handlers import (
    Enrollments,
    ExecutionSink,
    Requested,
    request_executions,
)
from services.matcher.settings import MatcherSettings
from shared.contracts import CloudEvent, ExecutionRequest, Topics
from shared.kafka import Outgoing, decode, send_all, tls_context
from shared.observability import instrumented
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

EVENTS_MATCHED = Counter(
    "matcher_events_matched_total", "Events that triggered at least one workflow.", ["type"]
)
EXECUTIONS_REQUESTED = Counter(
    "matcher_executions_requested_total",
    "Execution requests published to executions.requested, by trigger.",
    ["trigger"],
)
EVENTS_REJECTED = Counter(
    "matcher_events_rejected_total", "Records of events.normalized that are not an envelope."
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


def _configure_fetch_wait(app_id: str, wait_ms: int) -> None:
    _FETCH_MAX_WAIT_MS[app_id] = wait_ms
    create = AIOKafkaConsumerThread._create_worker_consumer
    if not getattr(create, "configured_fetch_wait", False):
        AIOKafkaConsumerThread._create_worker_consumer = _with_configured_fetch_wait(  # type: ignore[method-assign, assignment]
            create
        )


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

    An event waits until its partition's workflows are read (``ChangelogReader``), then its
    requests are handed to the producer. Events are acked, so that their offsets may be
    committed, in the order they arrived and each only once the broker acknowledged its
    requests (at-least-once); up to ``max_events_in_flight`` events wait for that at a time.
    An event whose partition is revoked while it waits is never acked: the partition's next
    owner reads it again. faust's assignment signals drive the reader. ``watch()`` raises if
    the agent, a delivery or faust itself fails.
    """

    def __init__(
        self,
        settings: MatcherSettings,
        topics: Topics,
        workflows: ChangelogReader,
        sink: ExecutionSink,
        enrollments: Enrollments,
        *,
        data_dir: Path,
    ) -> None:
        kafka = settings.kafka
        self._topic = topics.events_normalized
        self._workflows = workflows
        self._sink = sink
        self._enrollments = enrollments
        self._max_in_flight = settings.max_events_in_flight
        self._failure: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        _configure_fetch_wait(settings.consumer_group, kafka.fetch_max_wait_ms)
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
        """Stop consuming and commit what was acked. Idempotent."""
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
        in_flight: asyncio.Queue[_InFlight] = asyncio.Queue(maxsize=self._max_in_flight)
        acking = asyncio.create_task(self._ack_in_order(events, in_flight))
        try:
            await self._match(events, in_flight)
        except Exception as error:
            self._fail(error)
        finally:
            acking.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acking

    async def _match(
        self, stream: faust.StreamT[bytes], in_flight: asyncio.Queue[_InFlight]
    ) -> None:
        handle = instrumented("matcher.request_executions")(request_executions)
        async for record in stream.events():
            message = record.message
            try:
                event = decode(CloudEvent, record.value)
            except (ValidationError, ValueError) as error:
                EVENTS_REJECTED.inc()
                log.error(
                    "event is not an envelope; skipped",
                    extra={
                        "partition": message.partition,
                        "offset": message.offset,
                        "error": str(error),
                    },
                )
                await in_flight.put(_InFlight(record))
                continue
            workflows = await self._workflows.workflows_for(message.partition)
            if workflows is None:
                continue
            await in_flight.put(
                _InFlight(
                    record, event, await handle(workflows, self._sink, self._enrollments, event)
                )
            )

    async def _ack_in_order(
        self, stream: faust.StreamT[bytes], in_flight: asyncio.Queue[_InFlight]
    ) -> None:
        # Acks must not overtake each other within a partition: faust commits past an unacked
        # offset that directly follows the committed one (``Consumer._new_offset``).
        try:
            while True:
                pending = await in_flight.get()
                if pending.event is not None and pending.requested is not None:
                    await pending.requested.delivered
                    if requests := pending.requested.requests:
                        EVENTS_MATCHED.labels(pending.event.type).inc()
                        EXECUTIONS_REQUESTED.labels(pending.event.type).inc(len(requests))
                    latency = time.time() - pending.record.message.timestamp
                    MATCH_LATENCY.observe(max(0.0, latency))
                await stream.ack(pending.record)
        except Exception as error:
            self._fail(error)


@dataclass(frozen=True, slots=True)
class _InFlight:
    """An event to ack once its requests are acknowledged; one that was no envelope has none."""

    record: faust.EventT[bytes]
    event: CloudEvent | None = None
    requested: Requested | None = None
