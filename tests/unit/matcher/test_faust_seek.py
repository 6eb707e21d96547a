"""faust's rewind after dropping a fetch also rewinds partitions with no commit: aiokafka's
``seek_to_committed`` leaves those where they are, past the records faust dropped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import TopicPartition
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from services.matcher.adapters.kafka import (
    _seek_to_committed_or_beginning,
    rewind_uncommitted_partitions,
)

COMMITTED = TopicPartition("events", 0)
NEVER = TopicPartition("events", 1)
AT_ZERO = TopicPartition("events", 2)


class Consumer:
    def __init__(self) -> None:
        self.to_beginning: list[TopicPartition] = []

    async def seek_to_committed(self) -> dict[TopicPartition, int | None]:
        # aiokafka seeks only the partitions with a commit above 0
        return {COMMITTED: 120, NEVER: None, AT_ZERO: 0}

    async def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        self.to_beginning.extend(partitions)


class Thread:
    def __init__(self) -> None:
        self.consumer = Consumer()
        self.in_thread = 0

    def _ensure_consumer(self) -> Consumer:
        return self.consumer

    async def call_thread(self, method: Callable[[], Awaitable[Any]]) -> Any:
        self.in_thread += 1  # faust runs it on the consumer's own thread
        return await method()


async def test_partitions_without_a_commit_start_again_from_their_beginning() -> None:
    thread = Thread()
    committed = await _seek_to_committed_or_beginning(thread)
    assert committed == {COMMITTED: 120, NEVER: None, AT_ZERO: 0}
    assert sorted(thread.consumer.to_beginning) == [NEVER, AT_ZERO]
    assert thread.in_thread == 1


def test_it_is_installed_where_faust_seeks() -> None:
    rewind_uncommitted_partitions()
    rewind_uncommitted_partitions()  # once is enough; twice changes nothing
    assert AIOKafkaConsumerThread.seek_to_committed is _seek_to_committed_or_beginning
    assert asyncio.iscoroutinefunction(AIOKafkaConsumerThread.seek_to_committed)
