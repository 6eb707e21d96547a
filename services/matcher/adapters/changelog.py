"""Reading ``workflows.changelog`` into one ``WorkflowIndex`` per assigned partition."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError
from prometheus_client import Counter
from pydantic import ValidationError

from services.matcher.domain import WorkflowIndex
from shared.contracts import WorkflowChange
from shared.kafka import decode
from shared.lifecycle import BackgroundLoop

log = logging.getLogger(__name__)

CHANGELOG_RECORDS = Counter(
    "matcher_changelog_records_applied_total",
    "Records of workflows.changelog read into the index, by outcome: latest (now the workflow's "
    "version), superseded (a newer or equal version was known), unreadable (skipped).",
    ["outcome"],
)

_POLL_TIMEOUT_MS = 200


@dataclass(eq=False)
class _Partition:
    """The workflows of one partition, and how far its changelog has been read."""

    index: WorkflowIndex = field(default_factory=WorkflowIndex)
    assigned: bool = False
    position: int | None = None
    end_at_assignment: int | None = None
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    revoked: bool = False

    def release(self) -> None:
        """Wake every waiter with "not ours any more"."""
        self.revoked = True
        self.settled.set()


class ChangelogReader(BackgroundLoop):
    """The workflows of the ``events.normalized`` partitions this instance is assigned.

    Co-partitioning (SPEC §2) puts the workflows of the tenants whose events are on partition
    *p* of ``events.normalized`` on partition *p* of ``workflows.changelog``. ``assign`` starts
    reading the changelog partitions of a new assignment from their beginning and keeps tailing
    them; ``revoke`` drops their workflows and stops reading them. ``workflows_for(p)`` waits
    until partition *p* is assigned and read up to the end offset it had when it was assigned.

    One consumer reads every assigned partition, by manual assignment (no group, no commits):
    the changelog is always read whole, because nothing but the full history (last version
    wins) says which workflows exist.
    """

    def __init__(
        self, consumer: AIOKafkaConsumer, topic: str, *, grace_seconds: float = 20.0
    ) -> None:
        super().__init__(name="workflows.changelog reader", grace_seconds=grace_seconds)
        self._consumer = consumer
        self._topic = topic
        self._partitions: dict[int, _Partition] = {}

    async def open(self) -> None:
        await self._consumer.start()

    async def iteration(self) -> None:
        """Read what the assigned partitions have; with nothing assigned, wait for that."""
        if not self._consumer.assignment():
            await self.pause(3600)  # woken by the next assignment (or the stop)
            return
        batch = await self._consumer.getmany(timeout_ms=_POLL_TIMEOUT_MS)
        for tp, records in batch.items():
            self._apply(tp, records)
        await self._settle_caught_up()

    async def stop(self) -> None:
        """Wake every waiter with "revoked", stop reading (``BackgroundLoop``). Idempotent."""
        self._stopping.set()
        for partition in self._partitions.values():
            partition.release()
        self._partitions.clear()
        await super().stop()

    async def close(self) -> None:
        await self._consumer.stop()

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
            await self._read_from_beginning(fresh)
            log.info("reading workflows", extra={"topic": self._topic, "partitions": fresh})

    def revoke(self, partitions: Iterable[int]) -> None:
        """Drop the workflows of ``partitions``, stop reading them, release their waiters."""
        if self._drop(partitions):
            self._follow_assignment([])

    async def workflows_for(self, partition: int) -> WorkflowIndex | None:
        """The workflows of ``partition`` once it is read up to its end at assignment.

        Returns None if the partition is revoked (or the reader stops) first: the event that
        asked is no longer this instance's to process.
        """
        if self.stopping:
            return None
        state = self._partitions.get(partition)
        if state is None:
            # Events may arrive before faust has told us about the assignment they belong to.
            state = self._partitions[partition] = _Partition()
        await state.settled.wait()
        return None if state.revoked else state.index

    def position(self, partition: int) -> int | None:
        """The next changelog offset to read for ``partition``; None before it is read at all."""
        state = self._partitions.get(partition)
        return state.position if state is not None and state.assigned else None

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

    async def _read_from_beginning(self, fresh: list[int]) -> None:
        states = {TopicPartition(self._topic, number): self._partitions[number] for number in fresh}
        await self._consumer.seek_to_beginning(*states)
        ends = await self._consumer.end_offsets(list(states))
        for tp, state in states.items():
            if self._partitions.get(tp.partition) is not state or state.settled.is_set():
                continue  # revoked meanwhile
            state.end_at_assignment = ends[tp]
            if state.end_at_assignment <= (state.position or 0):
                state.settled.set()

    def _tps(self, partitions: Iterable[int]) -> list[TopicPartition]:
        return [TopicPartition(self._topic, number) for number in partitions]

    def _apply(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        state = self._partitions.get(tp.partition)
        if state is None or not state.assigned or not records:
            return
        for record in records:
            try:
                change = decode(WorkflowChange, record.value)
            except (ValidationError, ValueError) as error:
                CHANGELOG_RECORDS.labels("unreadable").inc()
                log.error(
                    "workflow change is not readable; skipped",
                    extra={"partition": tp.partition, "offset": record.offset, "error": str(error)},
                )
                continue
            outcome = "latest" if state.index.apply(change) else "superseded"
            CHANGELOG_RECORDS.labels(outcome).inc()
        state.position = records[-1].offset + 1

    async def _settle_caught_up(self) -> None:
        for number, state in list(self._partitions.items()):
            if state.settled.is_set() or state.end_at_assignment is None:
                continue
            try:
                position = await self._consumer.position(TopicPartition(self._topic, number))
            except IllegalStateError:
                continue  # revoked meanwhile
            if self._partitions.get(number) is not state:
                continue
            state.position = max(position, state.position or 0)
            if state.position >= state.end_at_assignment:
                state.settled.set()
