"""Calls that queue up while statements are in flight share one; a refused item fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from services.executor.adapters.batching import Batched
from services.executor.handlers import UnstorableInput


class Statements:
    """Stands in for the database: records each statement, answers when released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.alone: list[int] = []
        self.release = asyncio.Event()
        self.release.set()

    async def many(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        await self.release.wait()
        if any(item < 0 for item in items):
            raise UnstorableInput("negative")
        if 13 in items:
            raise ConnectionError("database gone")
        return [item * 10 for item in items]

    async def one(self, item: int) -> int:
        self.alone.append(item)
        if item < 0:
            raise UnstorableInput(f"{item} refused")
        return item * 10


async def test_a_call_that_finds_a_free_slot_goes_at_once_and_alone() -> None:
    db = Statements()
    batched = Batched(db.many, db.one, concurrency=2)
    assert await batched(1) == 10
    assert (db.alone, db.batches) == ([1], [])


async def test_calls_made_while_the_slots_are_busy_share_the_next_statement() -> None:
    db = Statements()
    db.release.clear()
    batched = Batched(db.many, db.one, concurrency=1, max_size=3)
    first = asyncio.create_task(batched(1))
    await asyncio.sleep(0)
    rest = [asyncio.create_task(batched(n)) for n in range(2, 7)]
    await asyncio.sleep(0)
    db.release.set()
    assert await first == 10
    assert [await task for task in rest] == [20, 30, 40, 50, 60]
    assert db.alone == [1]
    assert db.batches == [[2, 3, 4], [5, 6]]


async def test_an_item_the_database_refuses_fails_alone_and_the_others_succeed() -> None:
    db = Statements()
    db.release.clear()
    batched = Batched(db.many, db.one, concurrency=1)
    first = asyncio.create_task(batched(1))
    await asyncio.sleep(0)
    calls = [asyncio.create_task(batched(n)) for n in (2, -3, 4)]
    await asyncio.sleep(0)
    db.release.set()
    await first
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert results[0] == 20
    assert isinstance(results[1], UnstorableInput)
    assert results[2] == 40
    assert db.alone == [1, 2, -3, 4]


async def test_any_other_failure_fails_every_call_of_its_batch() -> None:
    db = Statements()
    db.release.clear()
    batched = Batched(db.many, db.one, concurrency=1)
    first = asyncio.create_task(batched(1))
    await asyncio.sleep(0)
    calls = [asyncio.create_task(batched(n)) for n in (12, 13)]
    await asyncio.sleep(0)
    db.release.set()
    await first
    for call in calls:
        with pytest.raises(ConnectionError):
            await call
    assert await batched(5) == 50  # the batcher goes on
