"""``send_all``/``publish_all``: records handed over in order, done only when every one is acked."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from shared.kafka import Outgoing, publish_all, send_all


class Producer:
    """Records each send and returns a future the test resolves (the broker's ack)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []
        self.acks: list[asyncio.Future[Any]] = []

    async def send(
        self, topic: str, value: bytes, *, key: bytes | None, headers: Any = None
    ) -> asyncio.Future[Any]:
        self.sent.append((topic, value, key))
        ack: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks.append(ack)
        return ack


async def test_records_are_handed_over_in_order_and_done_once_all_are_acked() -> None:
    producer = Producer()
    records = [Outgoing("t", f"v{n}".encode(), b"k") for n in range(3)]
    acked = await send_all(producer, records)  # type: ignore[arg-type]
    assert [value for _, value, _ in producer.sent] == [b"v0", b"v1", b"v2"]
    waiting = asyncio.ensure_future(acked)
    producer.acks[0].set_result(None)
    producer.acks[2].set_result(None)
    await asyncio.sleep(0)
    assert not waiting.done()
    producer.acks[1].set_result(None)
    await waiting


async def test_one_failed_ack_fails_the_batch_and_nothing_is_left_unobserved() -> None:
    producer = Producer()
    publishing = asyncio.ensure_future(
        publish_all(producer, [Outgoing("t", b"a"), Outgoing("t", b"b")])  # type: ignore[arg-type]
    )
    while len(producer.acks) < 2:
        await asyncio.sleep(0)
    producer.acks[0].set_exception(ConnectionError("broker gone"))
    producer.acks[1].set_exception(TimeoutError("also gone"))
    with pytest.raises(ConnectionError, match="broker gone"):
        await publishing
