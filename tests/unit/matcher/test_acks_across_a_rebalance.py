"""The matcher never acks, once a rebalance began, an event taken before it: faust forgets its
committed offsets then and would commit such an ack past the events it dropped meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest

from services.matcher.adapters.kafka import EventStream, _InFlight, _Taken
from services.matcher.settings import MatcherSettings
from shared.contracts import Topics
from shared.settings import KafkaSettings


class AckedStream:
    def __init__(self) -> None:
        self.acked: list[int] = []

    async def ack(self, record: Any) -> None:
        self.acked.append(record.message.offset)


class Record:
    def __init__(self, offset: int) -> None:
        self.message = type("Message", (), {"offset": offset, "partition": 0})()


@pytest.fixture
async def stream(tmp_path: Path) -> AsyncIterator[EventStream]:
    unused = cast("Any", None)
    kafka = KafkaSettings(bootstrap_servers="127.0.0.1:9")  # type: ignore[call-arg]
    stream = EventStream(
        MatcherSettings(kafka=kafka), Topics(), unused, unused, unused, unused, data_dir=tmp_path
    )
    yield stream
    stream.app.on_partitions_assigned.disconnect(stream._on_assigned)
    stream.app.on_partitions_revoked.disconnect(stream._on_revoked)


def delivered() -> asyncio.Future[None]:
    done = asyncio.get_running_loop().create_future()
    done.set_result(None)
    return done


async def test_events_taken_before_a_rebalance_began_are_not_acked_after_it(
    stream: EventStream,
) -> None:
    acks = AckedStream()
    in_flight: asyncio.Queue[_InFlight] = asyncio.Queue()
    before = stream.app.rebalancing_count

    async def resend() -> Any:
        return delivered()

    for offset in (10, 11):
        await in_flight.put(
            _InFlight(_Taken(cast("Any", Record(offset)), before), delivered(), resend)
        )
    stream.app.on_rebalance_start()  # what faust's consumer does first, when partitions are revoked
    await in_flight.put(
        _InFlight(
            _Taken(cast("Any", Record(10)), stream.app.rebalancing_count), delivered(), resend
        )
    )
    acking = asyncio.create_task(stream._ack_in_order(cast("Any", acks), in_flight))
    await asyncio.wait_for(in_flight.join(), 5)
    acking.cancel()
    assert acks.acked == [10], "only the event read again after the rebalance is acked"
