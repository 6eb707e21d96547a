"""What ``wf`` does on Kafka: send events, read consumer lag, replay dead letters.

Replays are deduplicated by id. An event dead letter goes back to ``events.inbound`` as it was
received (source and tenant headers restored); events with the same id (the event's own, else
one derived from its content) are sent once, and downstream the event id decides the execution
ids, so a replay that is run twice runs nothing twice. An execution dead letter carrying its
request goes back to ``executions.requested`` under a replay id derived from the original
execution id (``replay_execution_id``): the executor records a finished execution once and never
runs it again, so the replay needs an id of its own, and because that id is deterministic a
second replay of the same dead letter is recognised by the executor as a duplicate. A replay that
fails again is dead-lettered under its replay id, and can be replayed in turn. A dead letter that
did not decode as a request is sent back as received.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from pydantic import ValidationError

from ops.cli.output import UNAVAILABLE, Failure
from shared.contracts import EventDeadLetter, ExecutionDeadLetter, Topics
from shared.kafka import make_admin, make_consumer, make_producer, partitions_of
from shared.kafka.lag import PartitionLag, read_lag
from shared.settings import KafkaSettings

_REPLAY_NAMESPACE = uuid.UUID("0c8f6f4e-7d1b-4c3a-9e55-2f1d3b7a9c10")
REPLAYED_FROM_HEADER = "replayed-from"


def unreachable(settings: KafkaSettings, error: BaseException) -> Failure:
    return Failure(UNAVAILABLE, f"Kafka at {settings.bootstrap_servers}: {error!r}")


@dataclass(frozen=True, slots=True)
class Sent:
    topic: str
    partition: int
    offset: int
    type: str | None
    tenant: str | None


async def send_events(
    settings: KafkaSettings, events: Sequence[dict[str, Any]], *, tenant: str | None, source: str
) -> list[Sent]:
    """Publish ``events`` to ``events.inbound`` as ingest reads them (headers ``source`` and
    ``tenant``) and return where the broker stored each one, after its ack."""
    topic = Topics(settings.topic_prefix).events_inbound
    producer = make_producer(settings, client_id="wf")
    try:
        await producer.start()
        sent = []
        for event in events:
            owner = tenant or _tenant_of(event)
            headers = [("source", source.encode())]
            if owner:
                headers.append(("tenant", owner.encode()))
            meta = await producer.send_and_wait(topic, json.dumps(event).encode(), headers=headers)
            sent.append(Sent(topic, meta.partition, meta.offset, _str(event.get("type")), owner))
        return sent
    except (KafkaError, OSError) as error:
        raise unreachable(settings, error) from None
    finally:
        await producer.stop()


def _tenant_of(event: dict[str, Any]) -> str | None:
    return _str(event.get("tenantId", event.get("tenantid")))


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def consumer_lag(settings: KafkaSettings, groups: dict[str, list[str]]) -> list[PartitionLag]:
    """The lag of every group on every partition of its topics (as the services export it)."""
    admin = make_admin(settings, client_id="wf")
    consumer = make_consumer(settings, group_id=None, client_id="wf")
    try:
        await admin.start()
        await consumer.start()
        lags: list[PartitionLag] = []
        for group, topics in groups.items():
            lags.extend(await read_lag(admin, consumer, group, topics))
        return lags
    except (KafkaError, OSError) as error:
        raise unreachable(settings, error) from None
    finally:
        await consumer.stop()
        await admin.close()


async def read_topic(
    settings: KafkaSettings, topic: str, *, since: datetime | None
) -> AsyncIterator[ConsumerRecord[bytes, bytes]]:
    """The records of ``topic`` from ``since`` (or its beginning) to its end as of now."""
    consumer = make_consumer(settings, group_id=None, client_id="wf-replay")
    try:
        await consumer.start()
        tps = await partitions_of(consumer, topic)
        if not tps:
            return
        ends = await consumer.end_offsets(tps)
        starts = await _start_offsets(consumer, tps, since, ends)
        pending = {tp for tp in tps if starts[tp] < ends[tp]}
        if not pending:
            return
        consumer.assign(sorted(pending, key=lambda tp: tp.partition))
        for tp in pending:
            consumer.seek(tp, starts[tp])
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=500)
            for tp, records in batch.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield record
                if records and records[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
    except (KafkaError, OSError) as error:
        raise unreachable(settings, error) from None
    finally:
        await consumer.stop()


async def _start_offsets(
    consumer: AIOKafkaConsumer,
    tps: list[TopicPartition],
    since: datetime | None,
    ends: dict[TopicPartition, int],
) -> dict[TopicPartition, int]:
    if since is None:
        return dict(await consumer.beginning_offsets(tps))
    found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
    # No record at or after ``since`` (some brokers answer with timestamp -1): start at the end.
    return {
        tp: found[tp].offset if found.get(tp) is not None and found[tp].timestamp >= 0 else ends[tp]
        for tp in tps
    }


def replay_execution_id(execution_id: str) -> str:
    """The id a replay of ``execution_id`` runs under: the same for every replay of it."""
    name = "replay\x1f" + execution_id
    return f"exe_{uuid.uuid5(_REPLAY_NAMESPACE, name).hex}"


@dataclass(frozen=True, slots=True)
class Replay:
    """One dead letter and what a replay does with it."""

    id: str
    """What duplicates share: the event id, or the original execution id."""
    topic: str
    value: bytes
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    origin: str
    """``topic:partition:offset`` of the dead letter."""
    tenant: str | None
    code: str | None
    replayed_as: str | None = None
    """The execution id the replay runs under (executions only)."""

    def row(self, outcome: str) -> dict[str, Any]:
        return {
            "id": self.id,
            "replayedAs": self.replayed_as,
            "tenant": self.tenant,
            "error": self.code,
            "from": self.origin,
            "outcome": outcome,
        }


def event_replay(record: ConsumerRecord[bytes, bytes], topics: Topics) -> Replay | None:
    """The replay of an ``events.deadletter`` record; None if it is not a dead letter."""
    try:
        letter = EventDeadLetter.model_validate_json(record.value or b"")
    except ValidationError:
        return None
    source = letter.source or "native"
    headers = [("source", source.encode())]
    if letter.tenant:
        headers.append(("tenant", letter.tenant.encode()))
    origin = f"{record.topic}:{record.partition}:{record.offset}"
    headers.append((REPLAYED_FROM_HEADER, origin.encode()))
    return Replay(
        id=_event_id(letter),
        topic=topics.events_inbound,
        value=letter.received.encode(),
        key=record.key,
        headers=tuple(headers),
        origin=origin,
        tenant=letter.tenant,
        code=_str(letter.error.get("code")),
    )


def _event_id(letter: EventDeadLetter) -> str:
    """The event's own id when the input has one, else a digest of what was received."""
    try:
        body = json.loads(letter.received)
    except ValueError:
        body = None
    own = _str(body.get("id")) if isinstance(body, dict) else None
    if own:
        return own
    digest = hashlib.sha256(
        "\x1f".join([letter.source or "", letter.tenant or "", letter.received]).encode()
    )
    return f"sha256:{digest.hexdigest()[:32]}"


def execution_replay(record: ConsumerRecord[bytes, bytes], topics: Topics) -> Replay | None:
    """The replay of an ``executions.deadletter`` record; None if it is not a dead letter."""
    try:
        letter = ExecutionDeadLetter.model_validate_json(record.value or b"")
    except ValidationError:
        return None
    origin = f"{record.topic}:{record.partition}:{record.offset}"
    headers = ((REPLAYED_FROM_HEADER, origin.encode()),)
    code = _str(letter.error.get("code"))
    if letter.request is not None:
        replay = letter.request.model_copy(
            update={
                "execution_id": replay_execution_id(letter.request.execution_id),
                "resumption": None,
            }
        )
        return Replay(
            id=letter.request.execution_id,
            topic=topics.executions_requested,
            value=replay.model_dump_json(by_alias=True).encode(),
            key=letter.request.workflow_id.encode(),
            headers=headers,
            origin=origin,
            tenant=letter.request.tenant_id,
            code=code,
            replayed_as=replay.execution_id,
        )
    if letter.received is None:
        return None
    return Replay(
        id=_received_execution_id(letter.received),
        topic=topics.executions_requested,
        value=letter.received.encode(),
        key=record.key,
        headers=headers,
        origin=origin,
        tenant=None,
        code=code,
    )


def _received_execution_id(received: str) -> str:
    try:
        body = json.loads(received)
    except ValueError:
        body = None
    own = _str(body.get("execution_id")) if isinstance(body, dict) else None
    return own or f"sha256:{hashlib.sha256(received.encode()).hexdigest()[:32]}"


async def replay(
    settings: KafkaSettings, kind: str, *, since: datetime | None, dry_run: bool
) -> list[dict[str, Any]]:
    """Re-publish the dead letters of ``kind`` (``events`` or ``executions``) since ``since``,
    each id once; one row per dead letter saying what became of it."""
    topics = Topics(settings.topic_prefix)
    source, parse = (
        (topics.events_deadletter, event_replay)
        if kind == "events"
        else (topics.executions_deadletter, execution_replay)
    )
    chosen: dict[str, Replay] = {}
    rows: list[dict[str, Any]] = []
    async for record in read_topic(settings, source, since=since):
        item = parse(record, topics)
        if item is None:
            rows.append(
                {
                    "from": f"{record.topic}:{record.partition}:{record.offset}",
                    "outcome": "unreadable",
                }
            )
        elif item.id in chosen:
            rows.append(item.row("duplicate"))
        else:
            chosen[item.id] = item
            rows.append(item.row("would replay" if dry_run else "replayed"))
    if dry_run or not chosen:
        return rows
    producer = make_producer(settings, client_id="wf-replay")
    try:
        await producer.start()
        for item in chosen.values():
            await producer.send_and_wait(
                item.topic, item.value, key=item.key, headers=list(item.headers)
            )
    except (KafkaError, OSError) as error:
        raise unreachable(settings, error) from None
    finally:
        await producer.stop()
    return rows
