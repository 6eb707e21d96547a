"""Reading ``workflows.changelog`` into one ``WorkflowIndex`` per assigned partition."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import time
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError
from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import ValidationError

from services.matcher.domain import WorkflowIndex
from shared.lifecycle import BackgroundLoop, wait_out_outages

log = logging.getLogger(__name__)

CHANGELOG_RECORDS = Counter(
    "matcher_changelog_records_applied_total",
    "Records of workflows.changelog read into the index, by outcome: latest (now the workflow's "
    "version), superseded (a newer or equal version was known), unreadable (skipped).",
    ["outcome"],
)
INDEX_UPDATE_SECONDS = Histogram(
    "matcher_index_update_seconds",
    "Time to take one changelog record into the index (parse, compile, re-post).",
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
)
CHANGELOG_WAIT_SECONDS = Histogram(
    "matcher_changelog_wait_seconds",
    "Per batch of events: time to learn the changelog's end offsets and read up to them.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)

_POLL_TIMEOUT_MS = 200
_SLOW_WAIT_SECONDS = 10.0
"""How long a batch of events may wait for the changelog before the wait is logged."""
_TENANT_SIZES = (1, 10, 100, 1_000, 10_000, 100_000)
"""Upper bounds of the tenant-size buckets of ``matcher_workflows_loaded``."""


def tenant_size_bucket(workflows: int) -> str:
    """The bucket label of a tenant with ``workflows`` active workflows: ``1``, ``2-10`` …"""
    lower = 1
    for upper in _TENANT_SIZES:
        if workflows <= upper:
            return str(upper) if lower == upper else f"{lower}-{upper}"
        lower = upper + 1
    return f"{lower}+"


def settle_memory() -> None:
    """Collect garbage, then move every surviving object out of the cyclic collector's sight.

    A million workflows are tens of millions of long-lived objects; left to the collector,
    each full collection walks all of them (seconds, at unpredictable moments, stalling every
    event — measured: matching at a million workflows ran at 0.4x the speed of ten thousand).
    Frozen (``gc.freeze``), they are never walked again; the index breaks its own reference
    cycles when it drops a workflow, so reference counting frees them. Called after each
    changelog batch: the collection then walks only what was created since the last one.
    """
    gc.collect()
    gc.freeze()


@dataclass(eq=False)
class _Partition:
    """The workflows of one partition, how far its changelog has been read, and the batches of
    events waiting for it to be read further."""

    index: WorkflowIndex = field(default_factory=WorkflowIndex)
    assigned: bool = False
    position: int | None = None
    end_seen: int = 0
    waiters: list[tuple[int, asyncio.Future[WorkflowIndex | None]]] = field(default_factory=list)

    def advance(self, position: int) -> None:
        """Read up to ``position``: wake the waiters whose end offset that reaches."""
        self.position = max(position, self.position or 0)
        if not self.assigned:
            return
        still = []
        for end, waiter in self.waiters:
            if end <= self.position:
                if not waiter.done():
                    waiter.set_result(self.index)
            else:
                still.append((end, waiter))
        self.waiters = still

    def release(self) -> None:
        """Wake every waiter with "not ours any more"."""
        for _, waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
        self.waiters = []

    @property
    def lag(self) -> int:
        return max(0, self.end_seen - (self.position or 0))


class ChangelogReader(BackgroundLoop):
    """The workflows of the ``events.normalized`` partitions this instance is assigned.

    Co-partitioning (SPEC §2) puts the workflows of the tenants whose events are on partition
    *p* of ``events.normalized`` on partition *p* of ``workflows.changelog``. ``assign`` starts
    reading the changelog partitions of a new assignment from their beginning and keeps tailing
    them; ``revoke`` drops their workflows and stops reading them.

    Read your writes: ``caught_up(partitions)``, called for each batch of events once it is
    taken, asks the broker for the changelog's end offsets *then* and waits until those
    partitions are read up to them. A workflow saved before an event was accepted is on the
    broker before the event is taken (the config API answers a save once its record is
    acknowledged), so it is below those end offsets and in the index that matches the event.

    One consumer reads every assigned partition, by manual assignment (no group, no commits):
    the changelog is always read whole, because nothing but the full history (last version
    wins) says which workflows exist.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topic: str,
        *,
        offsets: AIOKafkaConsumer | None = None,
        grace_seconds: float = 20.0,
    ) -> None:
        super().__init__(name="workflows.changelog reader", grace_seconds=grace_seconds)
        self._consumer = consumer
        # End offsets are asked on a connection of their own: on the reading consumer's, the
        # request would queue behind its long poll (a whole fetch_max_wait_ms per batch).
        self._offsets = offsets if offsets is not None else consumer
        self._topic = topic
        self._partitions: dict[int, _Partition] = {}
        _READERS.add(self)

    async def open(self) -> None:
        await self._consumer.start()
        if self._offsets is not self._consumer:
            await self._offsets.start()

    async def iteration(self) -> None:
        """Read what the assigned partitions have; with nothing assigned, wait for that."""
        if not self._consumer.assignment():
            await self.pause(3600)  # woken by the next assignment (or the stop)
            return
        batch = await self._consumer.getmany(timeout_ms=_POLL_TIMEOUT_MS)
        for tp, records in batch.items():
            self._apply(tp, records)
        if batch:
            settle_memory()
        await self._advance_waiting()

    async def stop(self) -> None:
        """Wake every waiter with "revoked", stop reading (``BackgroundLoop``). Idempotent."""
        self._stopping.set()
        for partition in self._partitions.values():
            partition.release()
        self._partitions.clear()
        await super().stop()

    async def close(self) -> None:
        await self._consumer.stop()
        if self._offsets is not self._consumer:
            await self._offsets.stop()

    async def assign(self, partitions: Iterable[int]) -> None:
        """Take ``partitions`` as the complete new assignment; any other partition is revoked."""
        if self.stopping:
            return
        wanted = set(partitions)
        self._drop(number for number in list(self._partitions) if number not in wanted)
        fresh: list[int] = []
        for number in sorted(wanted):
            partition = self._partitions.setdefault(number, _Partition())
            if not partition.assigned:
                partition.assigned = True
                fresh.append(number)
        self._follow_assignment(fresh)
        if fresh:
            await self._consumer.seek_to_beginning(*self._tps(fresh))
            log.info("reading workflows", extra={"topic": self._topic, "partitions": fresh})

    def revoke(self, partitions: Iterable[int]) -> None:
        """Drop the workflows of ``partitions``, stop reading them, release their waiters."""
        if self._drop(partitions):
            self._follow_assignment([])

    async def caught_up(self, partitions: Iterable[int]) -> dict[int, WorkflowIndex | None]:
        """For each partition, its workflows once read up to the changelog's end offset now.

        One request asks the broker for every partition's end offset, so a batch of events
        costs one round trip, plus the wait when workflows changed meanwhile. A partition not
        (or no longer) assigned here maps to None: its events are another instance's.
        """
        wanted = sorted(set(partitions))
        if self.stopping:
            return dict.fromkeys(wanted)
        started = time.perf_counter()
        ends = await wait_out_outages(
            functools.partial(self._offsets.end_offsets, self._tps(wanted)), what=self.name
        )
        loop = asyncio.get_running_loop()
        found: dict[int, WorkflowIndex | None] = {}
        waiting: dict[int, asyncio.Future[WorkflowIndex | None]] = {}
        for number in wanted:
            if self.stopping:
                found[number] = None
                continue
            # Events may arrive before faust has told us about the assignment they belong to.
            state = self._partitions.setdefault(number, _Partition())
            end = ends[TopicPartition(self._topic, number)]
            state.end_seen = max(state.end_seen, end)
            if state.assigned and state.position is not None and state.position >= end:
                found[number] = state.index
            else:
                waiter = loop.create_future()
                state.waiters.append((end, waiter))
                waiting[number] = waiter
        for number, waiter in waiting.items():
            found[number] = await self._waited(number, waiter)
        CHANGELOG_WAIT_SECONDS.observe(time.perf_counter() - started)
        return found

    async def _waited(
        self, number: int, waiter: asyncio.Future[WorkflowIndex | None]
    ) -> WorkflowIndex | None:
        """``waiter``'s answer; a warning every ``_SLOW_WAIT_SECONDS`` it keeps events waiting."""
        while True:
            try:
                return await asyncio.wait_for(asyncio.shield(waiter), _SLOW_WAIT_SECONDS)
            except TimeoutError:
                state = self._partitions.get(number)
                log.warning(
                    "events wait for the workflows of their partition",
                    extra={
                        "partition": number,
                        "assigned": state is not None and state.assigned,
                        "position": state.position if state is not None else None,
                        "end": max((end for end, _ in state.waiters), default=None)
                        if state is not None
                        else None,
                    },
                )

    def position(self, partition: int) -> int | None:
        """The next changelog offset to read for ``partition``; None before it is read at all."""
        state = self._partitions.get(partition)
        return state.position if state is not None and state.assigned else None

    def indexes(self) -> Iterator[WorkflowIndex]:
        """The index of every assigned partition."""
        return (state.index for state in self._partitions.values() if state.assigned)

    def lag(self) -> int:
        """Changelog records not yet read below the end offsets last seen, over all partitions."""
        return sum(state.lag for state in self._partitions.values() if state.assigned)

    def _drop(self, partitions: Iterable[int]) -> bool:
        dropped = [
            state
            for number in partitions
            if (state := self._partitions.pop(number, None)) is not None
        ]
        for state in dropped:
            state.release()
        return bool(dropped)

    def _follow_assignment(self, fresh: list[int]) -> None:
        if self.stopping:
            return
        assigned = {number: state for number, state in self._partitions.items() if state.assigned}
        self._consumer.assign(self._tps(assigned))
        # ``assign`` forgets every position: the partitions kept continue where they were.
        for number, state in assigned.items():
            if number not in fresh and state.position is not None:
                self._consumer.seek(TopicPartition(self._topic, number), state.position)
        self.wake()

    def _tps(self, partitions: Iterable[int]) -> list[TopicPartition]:
        return [TopicPartition(self._topic, number) for number in partitions]

    def _apply(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        state = self._partitions.get(tp.partition)
        if state is None or not state.assigned or not records:
            return
        for record in records:
            started = time.perf_counter()
            try:
                if record.value is None:
                    raise ValueError("record has no value")
                applied = state.index.apply(record.value)
            except (ValidationError, ValueError) as error:
                CHANGELOG_RECORDS.labels("unreadable").inc()
                log.error(
                    "workflow change is not readable; skipped",
                    extra={"partition": tp.partition, "offset": record.offset, "error": str(error)},
                )
                continue
            INDEX_UPDATE_SECONDS.observe(time.perf_counter() - started)
            CHANGELOG_RECORDS.labels("latest" if applied else "superseded").inc()
        state.advance(records[-1].offset + 1)

    async def _advance_waiting(self) -> None:
        """Move the partitions that events wait for to the consumer's position (which also
        passes offsets that hold no record, as after compaction)."""
        for number, state in list(self._partitions.items()):
            if not state.waiters or not state.assigned:
                continue
            try:
                position = await self._consumer.position(TopicPartition(self._topic, number))
            except IllegalStateError:
                continue  # revoked meanwhile
            if self._partitions.get(number) is state:
                state.advance(position)


_READERS: weakref.WeakSet[ChangelogReader] = weakref.WeakSet()


class _ReaderCollector(Collector):
    """Gauges computed at scrape time from every live reader: no tenant label, ever."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        workflows = GaugeMetricFamily(
            "matcher_workflows_loaded",
            "Active workflows in the index, by the size of their tenant (active workflows).",
            labels=["tenant_size"],
        )
        tenants = GaugeMetricFamily(
            "matcher_tenants_loaded",
            "Tenants with active workflows in the index, by their size (active workflows).",
            labels=["tenant_size"],
        )
        by_bucket: dict[str, list[int]] = {}
        lag = 0
        for reader in list(_READERS):
            lag += reader.lag()
            for index in reader.indexes():
                for size in index.tenant_sizes().values():
                    totals = by_bucket.setdefault(tenant_size_bucket(size), [0, 0])
                    totals[0] += size
                    totals[1] += 1
        for bucket, (count, tenant_count) in sorted(by_bucket.items()):
            workflows.add_metric([bucket], count)
            tenants.add_metric([bucket], tenant_count)
        yield workflows
        yield tenants
        yield GaugeMetricFamily(
            "matcher_changelog_lag_records",
            "Changelog records below the end offsets last seen that are not read yet.",
            value=lag,
        )


REGISTRY.register(_ReaderCollector())
