"""Consuming records concurrently within a partition, committing each only once every record
before it is finished.

``ConsumerLoop`` hands a partition's batch to one sequential handler: a record that waits (a
slow receiver, a retry) holds up every record behind it. ``ConcurrentConsumerLoop`` runs each
record as its own task, up to a bounded number in flight per partition and overall, and commits
a partition only up to its lowest unfinished record (``PartitionProgress``), so a crash still
redelivers exactly what was not finished (at-least-once).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Sequence

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from shared.lifecycle import BackgroundLoop, wait_out_outages

log = logging.getLogger(__name__)

RecordWork = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]
"""Handle one record. It owns poison input (dead-letters it); raising stops the loop, except
with a connection error: then the record is handled again from its start once the dependency
is back (``wait_out_outages``)."""


async def commit_quietly(
    consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int], *, loop: str
) -> bool:
    """Commit ``offsets``; False when a rebalance took the partitions away (their new owner
    redelivers what was not committed: at-least-once)."""
    if not offsets:
        return True
    try:
        await consumer.commit(offsets)
    except (CommitFailedError, IllegalStateError) as error:
        log.warning("commit skipped after rebalance", extra={"loop": loop, "error": repr(error)})
        return False
    return True


class PartitionProgress:
    """The records of one partition handed out and finished, in offset order.

    ``commit_offset`` is the offset to commit: the lowest record not finished yet, or one past
    the last record handed out when all are finished; None before the first record.
    """

    def __init__(self) -> None:
        self._handed_out: deque[int] = deque()
        self._finished: set[int] = set()
        self._next: int | None = None

    @property
    def in_flight(self) -> int:
        return len(self._handed_out)

    @property
    def next_offset(self) -> int | None:
        """One past the last record handed out: where fetching resumes."""
        return self._next

    @property
    def commit_offset(self) -> int | None:
        if self._handed_out:
            return self._handed_out[0]
        return self._next

    def started(self, offset: int) -> None:
        """``offset`` was handed out; offsets are handed out in increasing order."""
        self._handed_out.append(offset)
        self._next = offset + 1

    def finished(self, offset: int) -> None:
        """``offset`` is done; the records before it may still be running."""
        self._finished.add(offset)
        while self._handed_out and self._handed_out[0] in self._finished:
            self._finished.discard(self._handed_out.popleft())


class ConcurrentConsumerLoop(BackgroundLoop):
    """Fetch records of ``topics`` and run ``handle`` on each as its own task.

    At most ``max_in_flight`` records run at once, and about ``max_in_flight_per_partition`` per
    partition (a partition whose window is full is paused until it drains). Each partition is
    committed up to its lowest unfinished record after every fetch, so what was not finished is
    redelivered after a crash. On a rebalance the finished records are committed first; tasks of
    a partition that moves away keep running (whoever handles their records again must tolerate
    that, e.g. with a lease), and a partition that comes straight back resumes after the records
    already handed out instead of running them twice. ``stop()`` stops fetching, lets the records
    in flight finish within ``grace_seconds``, commits, cancels what is still running
    (uncommitted, so redelivered), and leaves the group. A record failing because a dependency is
    unreachable is handled again once it is back, uncommitted meanwhile (``wait_out_outages``);
    a ``handle`` that raises anything else stops the loop with that error.
    """

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topics: Sequence[str],
        handle: RecordWork,
        *,
        name: str,
        grace_seconds: float = 20.0,
        max_in_flight: int = 100,
        max_in_flight_per_partition: int = 50,
    ) -> None:
        super().__init__(name=name, grace_seconds=grace_seconds)
        self._consumer = consumer
        self._topics = list(topics)
        self._handle = handle
        self._max_in_flight = max_in_flight
        self._max_per_partition = max_in_flight_per_partition
        self._partitions: dict[TopicPartition, PartitionProgress] = {}
        self._revoked: dict[TopicPartition, PartitionProgress] = {}
        self._committed: dict[TopicPartition, int] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    @property
    def in_flight(self) -> int:
        return len(self._tasks)

    async def open(self) -> None:
        self._consumer.subscribe(self._topics, listener=_Rebalance(self))
        await self._consumer.start()

    async def iteration(self) -> None:
        self._raise_failure()
        await self._commit_finished()
        capacity = self._max_in_flight - len(self._tasks)
        if capacity <= 0:
            await self.pause(0.2)  # a finishing task wakes the loop
            return
        self._pause_full_partitions()
        batch = await self._consumer.getmany(timeout_ms=200, max_records=capacity)
        for tp, records in batch.items():
            progress = self._partitions.setdefault(tp, PartitionProgress())
            for record in records:
                progress.started(record.offset)
                self._spawn(progress, record)

    def _raise_failure(self) -> None:
        if self._failure is not None:
            raise self._failure

    def _spawn(self, progress: PartitionProgress, record: ConsumerRecord[bytes, bytes]) -> None:
        task = asyncio.create_task(self._run(record), name=f"{self.name}@{record.offset}")
        self._tasks.add(task)

        def done(task: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            self.wake()
            if task.cancelled():
                return  # not finished: it stays uncommitted
            error = task.exception()
            if error is not None:
                if self._failure is None:
                    self._failure = error
                return
            progress.finished(record.offset)

        task.add_done_callback(done)

    async def _run(self, record: ConsumerRecord[bytes, bytes]) -> None:
        await wait_out_outages(
            functools.partial(self._handle, record), what=f"{self.name}@{record.offset}"
        )

    def _pause_full_partitions(self) -> None:
        full = [tp for tp, p in self._partitions.items() if p.in_flight >= self._max_per_partition]
        assigned = self._consumer.assignment()
        paused = self._consumer.paused()
        resume = [tp for tp in paused if tp not in full and tp in assigned]
        if resume:
            self._consumer.resume(*resume)
        pause = [tp for tp in full if tp not in paused and tp in assigned]
        if pause:
            self._consumer.pause(*pause)

    def _finished_offsets(
        self, partitions: Collection[TopicPartition]
    ) -> dict[TopicPartition, int]:
        offsets: dict[TopicPartition, int] = {}
        for tp in partitions:
            progress = self._partitions.get(tp)
            offset = progress.commit_offset if progress is not None else None
            if offset is not None and self._committed.get(tp) != offset:
                offsets[tp] = offset
        return offsets

    async def _commit_finished(self) -> None:
        offsets = self._finished_offsets(list(self._partitions))
        if await commit_quietly(self._consumer, offsets, loop=self.name):
            self._committed.update(offsets)

    async def on_revoked(self, revoked: Collection[TopicPartition]) -> None:
        """Commit what is finished; keep the progress of the revoked partitions until the
        assignment that follows says whether they come back."""
        with contextlib.suppress(KafkaError):
            await self._commit_finished()
        for tp in revoked:
            progress = self._partitions.pop(tp, None)
            if progress is not None:
                self._revoked[tp] = progress
            self._committed.pop(tp, None)

    async def on_assigned(self, assigned: Collection[TopicPartition]) -> None:
        """A partition that comes straight back resumes after its records already handed out,
        whose tasks are still ours; the progress of the others is forgotten (their tasks run
        on, and their next owner reads their records again from the committed offset)."""
        revoked, self._revoked = self._revoked, {}
        for tp in assigned:
            progress = revoked.get(tp)
            if progress is None or progress.next_offset is None:
                continue
            self._partitions[tp] = progress
            self._consumer.seek(tp, progress.next_offset)

    async def close(self) -> None:
        try:
            if self._tasks:
                await asyncio.wait(list(self._tasks), timeout=self.grace_seconds)
            with contextlib.suppress(KafkaError):
                await self._commit_finished()
            if self._tasks:
                log.warning(
                    "records in flight cancelled after the grace period",
                    extra={"loop": self.name, "records": len(self._tasks)},
                )
                tasks = list(self._tasks)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await self._consumer.stop()


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    def __init__(self, loop: ConcurrentConsumerLoop) -> None:
        self._loop = loop

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._loop.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._loop.on_assigned(assigned)
