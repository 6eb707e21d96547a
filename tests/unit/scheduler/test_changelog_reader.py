"""The scheduler's changelog reader records how far it has read; its end-offset probe waits out
a broker out of reach (a network partition) instead of stopping the scheduler."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import stamina
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError

from services.scheduler.adapters.kafka import ChangelogReader

TP = TopicPartition("workflows.changelog", 0)
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class ProbedConsumer:
    """Assigned one partition, read up to its end (3); ``end_offsets`` fails with ``outages``
    first."""

    def __init__(self, *outages: Exception) -> None:
        self.outages = list(outages)
        self.probes = 0

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        self.probes += 1
        if self.outages:
            raise self.outages.pop(0)
        return dict.fromkeys(partitions, 3)

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Any]]:
        return {}

    async def position(self, tp: TopicPartition) -> int:
        return 3


class Progress:
    def __init__(self) -> None:
        self.read: list[tuple[list[int], datetime]] = []

    async def read_through(self, partitions: list[int], instant: datetime) -> None:
        self.read.append((list(partitions), instant))


def reader(consumer: ProbedConsumer, progress: Progress) -> ChangelogReader:
    async def handle(_tp: TopicPartition, _records: list[Any]) -> None:
        raise AssertionError("no records here")

    return ChangelogReader(
        consumer,  # type: ignore[arg-type]
        handle,
        progress,  # type: ignore[arg-type]
        clock=lambda: NOW,
        check_seconds=60,
        grace_seconds=1,
    )


async def test_the_end_offset_probe_waits_out_an_unreachable_broker() -> None:
    consumer = ProbedConsumer(KafkaConnectionError("refused"), KafkaTimeoutError())
    progress = Progress()
    with stamina.set_testing(True, attempts=10):
        await reader(consumer, progress).iteration()
    assert consumer.probes == 3
    assert progress.read == [([0], NOW)]


async def test_a_bug_in_the_probe_still_stops_the_reader() -> None:
    consumer = ProbedConsumer(ValueError("a bug"))
    with stamina.set_testing(True, attempts=10), pytest.raises(ValueError, match="a bug"):
        await reader(consumer, Progress()).iteration()
