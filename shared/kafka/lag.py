"""Consumer lag: how far each consumer group is behind the end of the partitions it reads.

One mechanism for every consumer, faust's group included: ``read_lag`` asks the broker for the
end offsets and the group's committed offsets (never the group's members, whose assignments
some brokers do not report), and ``LagExporter`` runs it on an interval in every service that
consumes, exporting gauges per group, topic and partition (bounded labels; the operator CLI's
``wf lag`` prints the same figures). Seconds of lag are the age of the oldest record the group
has not committed, read from that record's timestamp.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import Counter, Gauge

from shared.kafka import make_admin, make_consumer, partitions_of
from shared.lifecycle import BackgroundLoop, Service
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

_LABELS = ["group", "topic", "partition"]
LAG_RECORDS = Gauge(
    "kafka_consumer_group_lag",
    "Records of a partition not yet committed by the consumer group (end offset - committed).",
    _LABELS,
)
LAG_SECONDS = Gauge(
    "kafka_consumer_group_lag_seconds",
    "Age of the oldest record of a partition the consumer group has not committed (0 when it "
    "is caught up).",
    _LABELS,
)
LAG_READS_FAILED = Counter(
    "kafka_consumer_group_lag_reads_failed_total",
    "Attempts to read a consumer group's lag that failed (the gauges keep their last values).",
    ["group"],
)

_TIMESTAMP_FETCH_SECONDS = 2.0

ConsumerGroups = Mapping[str, Sequence[str]]
"""Each consumer group and the topics it consumes."""


@dataclass(frozen=True, slots=True)
class PartitionLag:
    """Where one consumer group stands on one partition."""

    group: str
    topic: str
    partition: int
    end_offset: int
    committed: int | None
    """None when the group has committed nothing on this partition."""
    lag: int
    lag_seconds: float | None
    """None when the oldest uncommitted record carries no timestamp."""


def records_behind(end_offset: int, log_start: int, committed: int | None) -> int:
    """Records between the group's position and the end of the partition.

    A group that committed nothing starts at the log start (``auto_offset_reset=earliest``);
    so does one whose committed offset fell out of retention.
    """
    position = log_start if committed is None else max(committed, log_start)
    return max(0, end_offset - position)


async def read_lag(
    admin: AIOKafkaAdminClient,
    consumer: AIOKafkaConsumer,
    group: str,
    topics: Iterable[str],
    *,
    clock: Callable[[], float] = time.time,
) -> list[PartitionLag]:
    """The lag of ``group`` on every partition of ``topics``.

    ``consumer`` must have no group (it is assigned the lagging partitions to read the
    timestamp of each one's oldest uncommitted record). Raises ``KafkaError`` when the broker
    cannot answer.
    """
    tps = [tp for topic in topics for tp in await partitions_of(consumer, topic)]
    if not tps:
        return []
    ends = await consumer.end_offsets(tps)
    starts = await consumer.beginning_offsets(tps)
    # Partitions named explicitly: some brokers answer an unqualified request with nothing.
    offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    committed: dict[TopicPartition, int | None] = {}
    for tp in tps:
        meta = offsets.get(tp)
        committed[tp] = meta.offset if meta is not None and meta.offset >= 0 else None
    behind = {tp: records_behind(ends[tp], starts[tp], committed[tp]) for tp in tps}
    positions = {
        tp: max(committed[tp] or 0, starts[tp]) for tp, records in behind.items() if records
    }
    oldest = await _timestamps_at(consumer, positions)
    now = clock()
    return [
        PartitionLag(
            group=group,
            topic=tp.topic,
            partition=tp.partition,
            end_offset=ends[tp],
            committed=committed[tp],
            lag=behind[tp],
            lag_seconds=0.0
            if not behind[tp]
            else (max(0.0, now - oldest[tp]) if tp in oldest else None),
        )
        for tp in tps
    ]


async def _timestamps_at(
    consumer: AIOKafkaConsumer, positions: Mapping[TopicPartition, int]
) -> dict[TopicPartition, float]:
    """The timestamp (seconds) of the record at each position, for those that have one."""
    if not positions:
        return {}
    consumer.assign(list(positions))
    for tp, offset in positions.items():
        consumer.seek(tp, offset)
    found: dict[TopicPartition, float] = {}
    deadline = time.monotonic() + _TIMESTAMP_FETCH_SECONDS
    try:
        while len(found) < len(positions) and time.monotonic() < deadline:
            missing = [tp for tp in positions if tp not in found]
            batch = await consumer.getmany(*missing, timeout_ms=200)
            for tp, records in batch.items():
                if records and records[0].timestamp is not None and records[0].timestamp >= 0:
                    found[tp] = records[0].timestamp / 1000
    finally:
        consumer.assign([])
    return found


def export(lags: Iterable[PartitionLag]) -> None:
    """Set the lag gauges from ``lags``."""
    for lag in lags:
        labels = (lag.group, lag.topic, str(lag.partition))
        LAG_RECORDS.labels(*labels).set(lag.lag)
        if lag.lag_seconds is not None:
            LAG_SECONDS.labels(*labels).set(lag.lag_seconds)


class LagExporter(BackgroundLoop):
    """Reads the lag of ``groups`` every ``KAFKA_LAG_INTERVAL_SECONDS`` and exports it.

    A read that fails is logged and counted; the loop goes on (lag is worth having, never worth
    stopping a service for).
    """

    def __init__(
        self,
        settings: KafkaSettings,
        groups: ConsumerGroups,
        *,
        client_id: str,
        grace_seconds: float = 5.0,
    ) -> None:
        super().__init__(name="consumer lag", grace_seconds=grace_seconds)
        self._settings = settings
        self._groups = {group: list(topics) for group, topics in groups.items()}
        self._admin = make_admin(settings, client_id=f"{client_id}-lag")
        self._consumer = make_consumer(settings, group_id=None, client_id=f"{client_id}-lag")

    async def open(self) -> None:
        await self._admin.start()
        try:
            await self._consumer.start()
        except BaseException:
            await self._admin.close()
            raise

    async def iteration(self) -> None:
        for group, topics in self._groups.items():
            try:
                export(await read_lag(self._admin, self._consumer, group, topics))
            except (KafkaError, OSError, TimeoutError) as error:
                LAG_READS_FAILED.labels(group).inc()
                log.warning("consumer lag not read", extra={"group": group, "error": repr(error)})
        await self.pause(self._settings.lag_interval_seconds)

    async def close(self) -> None:
        try:
            await self._consumer.stop()
        except asyncio.CancelledError:
            # aiokafka's group-less consumer cancels its committed-offsets task on stop and
            # awaits it; a task that never got to run (a stop right after the start) re-raises
            # that cancellation. Only a cancellation of this task itself is passed on.
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
        await self._admin.close()


async def export_lag(
    service: Service, stack: AsyncExitStack, settings: KafkaSettings, groups: ConsumerGroups
) -> None:
    """Run a ``LagExporter`` for ``groups`` in ``service`` until ``stack`` closes."""
    exporter = LagExporter(settings, groups, client_id=service.name)
    await exporter.start()
    service.run_in_background(exporter, stack)
