"""The matcher's changelog reader: a batch's read-your-writes check waits out a broker out of
reach (a network partition) instead of failing the stream, and leaves a revoked partition's
events to its next owner."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import stamina
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError, NodeNotReadyError

from services.matcher.adapters.changelog import ChangelogReader

TOPIC = "workflows.changelog"


class EmptyChangelog:
    """A consumer of an empty changelog; ``end_offsets`` fails with ``outages`` first."""

    def __init__(self, *outages: Exception, end: int = 0) -> None:
        self.outages = list(outages)
        self.probes = 0
        self.end = end
        self.read_to = 0
        self._assigned: set[TopicPartition] = set()

    def assignment(self) -> set[TopicPartition]:
        return self._assigned

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._assigned = set(partitions)

    async def seek_to_beginning(self, *_partitions: TopicPartition) -> None:
        pass

    def seek(self, _tp: TopicPartition, _offset: int) -> None:
        pass

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        return {}

    async def position(self, _tp: TopicPartition) -> int:
        return self.read_to

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.probes += 1
        if self.outages:
            raise self.outages.pop(0)
        return dict.fromkeys(partitions, self.end)


async def test_the_check_of_a_batch_waits_out_an_unreachable_broker() -> None:
    offsets = EmptyChangelog(NodeNotReadyError("out of reach"), KafkaTimeoutError())
    reader = ChangelogReader(EmptyChangelog(), TOPIC, offsets=offsets)  # type: ignore[arg-type]
    await reader.assign([0])
    with stamina.set_testing(True, attempts=10):
        check = asyncio.create_task(reader.caught_up([0]))
        async with asyncio.timeout(5):
            while not check.done():
                await reader.iteration()
                await asyncio.sleep(0)
    found = check.result()
    assert offsets.probes == 3
    assert list(found) == [0]
    assert found[0] is not None


async def test_a_bug_in_the_check_is_raised() -> None:
    offsets = EmptyChangelog(ValueError("a bug"))
    reader = ChangelogReader(EmptyChangelog(), TOPIC, offsets=offsets)  # type: ignore[arg-type]
    await reader.assign([0])
    with stamina.set_testing(True, attempts=10), pytest.raises(ValueError, match="a bug"):
        await reader.caught_up([0])


async def test_a_batch_waiting_when_its_partition_is_revoked_is_left_to_the_next_owner() -> None:
    changelog = EmptyChangelog(end=3)
    reader = ChangelogReader(changelog, TOPIC, offsets=changelog)  # type: ignore[arg-type]
    await reader.assign([0, 1])
    check = asyncio.create_task(reader.caught_up([0]))
    while not reader.lag():  # the check has learnt the end offset and waits
        await asyncio.sleep(0)
    await reader.iteration()
    assert not check.done()
    reader.revoke([0, 1])
    assert await asyncio.wait_for(check, 5) == {0: None}
