"""Kafka clients built from settings, the tenant partitioner, topic creation, JSON codecs.

Everything here is plain aiokafka configured once: at-least-once delivery (``acks=all``,
manual commits), idempotence off by default (see BROKER.md), timings and security (TLS, SASL)
from ``KafkaSettings``. Every client of every service is built here (faust's from
``security_options`` too), so a setting reaches each of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from aiokafka.helpers import create_ssl_context
from aiokafka.partitioner import murmur2
from pydantic import BaseModel

from shared.kafka.concurrent import (
    ConcurrentConsumerLoop,
    PartitionProgress,
    RecordWork,
    commit_quietly,
)
from shared.lifecycle import BackgroundLoop, wait_out_outages
from shared.settings import KafkaSettings

__all__ = [
    "ConcurrentConsumerLoop",
    "ConsumerLoop",
    "Outgoing",
    "PartitionProgress",
    "RecordHandler",
    "RecordWork",
    "decode",
    "encode",
    "ensure_topics",
    "kafka_reachable",
    "make_admin",
    "make_consumer",
    "make_producer",
    "partitions_of",
    "publish_all",
    "security_options",
    "send_all",
    "tenant_partition",
    "tenant_partitioner",
    "tls_context",
    "topic_is_empty",
]

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)


def tenant_partition(tenant_id: str, partitions: int) -> int:
    """The partition of ``tenant_id``'s records in a tenant-keyed topic of ``partitions``."""
    return int(murmur2(tenant_id.encode()) & 0x7FFFFFFF) % partitions


def tenant_partitioner(
    key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]
) -> int:
    """Place a record by the tenant part of its key (before the first ``/``).

    For a plain tenant key this is exactly Kafka's default (murmur2) partitioner; for the
    changelog's ``tenant/workflow`` keys it puts every workflow beside its tenant's events, which
    is the co-partitioning contract of SPEC §2. Keys with no ``/`` are hashed whole, so the same
    partitioner serves every topic.
    """
    if key is None:
        return available[0] if available else all_partitions[0]
    tenant = key.split(b"/", 1)[0]
    return all_partitions[int(murmur2(tenant) & 0x7FFFFFFF) % len(all_partitions)]


def encode(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()


def decode(model: type[M], raw: bytes | None) -> M:
    """Parse a record value; raises ``pydantic.ValidationError`` (or ``ValueError`` for None)."""
    if raw is None:
        raise ValueError("record has no value")
    return model.model_validate_json(raw)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One record to publish: where, what, and the key that places it."""

    topic: str
    value: bytes
    key: bytes | None = None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, topic: str, model: BaseModel, key: str | bytes | None = None) -> Outgoing:
        """``model`` as JSON (by alias) on ``topic``; a ``str`` key is UTF-8 encoded."""
        return cls(topic, encode(model), key.encode() if isinstance(key, str) else key)


async def send_all(producer: AIOKafkaProducer, records: Iterable[Outgoing]) -> Awaitable[None]:
    """Hand ``records`` to ``producer`` in order, without waiting for the broker.

    Returns what completes once the broker acknowledged every record (``acks=all``), or raises
    the first failure (every other outcome is collected, none is left unobserved). Records on
    one partition keep their order. Callers that pipeline (the matcher) hold the awaitable;
    the others call ``publish_all``.
    """
    pending = [
        await producer.send(
            record.topic, record.value, key=record.key, headers=list(record.headers) or None
        )
        for record in records
    ]
    # A task, not a bare coroutine: a caller that never awaits it (an event whose partition was
    # revoked while its requests were in flight) leaves nothing unawaited behind.
    return asyncio.ensure_future(_all_acknowledged(pending))


async def _all_acknowledged(pending: Sequence[Awaitable[Any]]) -> None:
    outcomes = await asyncio.gather(*pending, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


async def publish_all(producer: AIOKafkaProducer, records: Iterable[Outgoing]) -> None:
    """Publish ``records`` in order and return once the broker acknowledged every one."""
    await (await send_all(producer, records))


def tls_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    """The TLS context of the SSL and SASL_SSL protocols (None for the plaintext ones)."""
    if not settings.uses_tls:
        return None
    context: ssl.SSLContext = create_ssl_context(
        cafile=settings.ssl_cafile,
        certfile=settings.ssl_certfile,
        keyfile=settings.ssl_keyfile,
    )
    context.check_hostname = settings.ssl_check_hostname
    return context


def security_options(settings: KafkaSettings) -> dict[str, Any]:
    """The security arguments every aiokafka client (producer, consumer, admin) takes."""
    options: dict[str, Any] = {
        "security_protocol": settings.security_protocol,
        "ssl_context": tls_context(settings),
    }
    if settings.uses_sasl:
        options |= {
            "sasl_mechanism": settings.sasl_mechanism,
            "sasl_plain_username": settings.sasl_username,
            "sasl_plain_password": settings.sasl_password.get_secret_value(),
        }
    return options


def make_admin(settings: KafkaSettings, *, client_id: str = "admin") -> AIOKafkaAdminClient:
    """An admin client (topics, consumer group offsets); start it before use."""
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        request_timeout_ms=settings.request_timeout_ms,
        **security_options(settings),
    )


def make_producer(settings: KafkaSettings, *, client_id: str) -> AIOKafkaProducer:
    """A producer that waits for every in-sync replica (``acks=all``)."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        acks="all",
        enable_idempotence=settings.enable_idempotence,
        partitioner=tenant_partitioner,
        request_timeout_ms=settings.request_timeout_ms,
        linger_ms=1,
        **security_options(settings),
    )


def make_consumer(
    settings: KafkaSettings,
    *topics: str,
    group_id: str | None,
    client_id: str,
    max_poll_records: int = 500,
) -> AIOKafkaConsumer:
    """A consumer with manual commits; it starts from the earliest record of a new group."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=settings.bootstrap_servers,
        client_id=client_id,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        fetch_max_wait_ms=settings.fetch_max_wait_ms,
        request_timeout_ms=settings.request_timeout_ms,
        max_poll_records=max_poll_records,
        **security_options(settings),
    )


async def ensure_topics(settings: KafkaSettings, names: Iterable[str]) -> None:
    """Create the topics this service needs, with the configured partition count.

    Topics that exist already are left as they are. Several services may race to create the
    same topic; that is fine.
    """
    wanted = sorted(set(names))
    admin = make_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if not missing:
            return
        new = [
            NewTopic(name, settings.topic_partitions, settings.replication_factor)
            for name in missing
        ]
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(new)
        log.info("topics created", extra={"topics": missing})
    finally:
        await admin.close()


async def topic_is_empty(settings: KafkaSettings, topic: str) -> bool:
    """Whether no record was ever written to ``topic`` (every partition's end offset is 0)."""
    consumer = make_consumer(settings, group_id=None, client_id="topic-probe")
    await consumer.start()
    try:
        ends = await consumer.end_offsets(await partitions_of(consumer, topic))
        return all(offset == 0 for offset in ends.values())
    finally:
        await consumer.stop()


async def partitions_of(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    """The partitions of ``topic`` (an empty list when it does not exist)."""
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    return [TopicPartition(topic, number) for number in sorted(partitions)]


async def kafka_reachable(producer: AIOKafkaProducer) -> bool:
    """Readiness probe: can the producer refresh cluster metadata right now?"""
    return bool(await producer.client.force_metadata_update())


RecordHandler = Callable[[TopicPartition, list[ConsumerRecord[bytes, bytes]]], Awaitable[None]]


class ConsumerLoop(BackgroundLoop):
    """Fetch, hand each partition's records to ``handle`` (partitions concurrently), commit.

    A partition's records are handled one batch at a time, so one slow record holds up those
    behind it; ``ConcurrentConsumerLoop`` runs records concurrently within a partition instead.

    Offsets are committed only after ``handle`` returned for every partition in the batch, so a
    crash redelivers what was not finished (at-least-once). ``handle`` owns poison messages: it
    dead-letters what it cannot process. A partition's batch that fails because a dependency is
    unreachable (PostgreSQL restarting) is handled again from its start once it is back
    (``wait_out_outages``), uncommitted meanwhile; any other error stops the loop and the
    service fails.
    ``stop()`` lets the batch in flight finish within ``grace_seconds`` and commits it; a batch
    still running then is cancelled uncommitted (it is redelivered and, with idempotent
    handlers, resumes where it stopped). Then the consumer leaves the group.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        handle: RecordHandler,
        *,
        name: str,
        grace_seconds: float = 20.0,
    ) -> None:
        super().__init__(name=name, grace_seconds=grace_seconds)
        self._consumer = consumer
        self._handle = handle

    async def open(self) -> None:
        await self._consumer.start()

    async def iteration(self) -> None:
        batch = await self._consumer.getmany(timeout_ms=200)
        if not batch:
            return
        await asyncio.gather(
            *(
                wait_out_outages(functools.partial(self._handle, tp, records), what=self.name)
                for tp, records in batch.items()
            )
        )
        await self._commit({tp: records[-1].offset + 1 for tp, records in batch.items()})

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        await commit_quietly(self._consumer, offsets, loop=self.name)

    async def close(self) -> None:
        await self._consumer.stop()
