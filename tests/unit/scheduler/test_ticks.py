"""The tick loop's contract: reruns a full batch at once, rides out outages, stops on bugs."""

from __future__ import annotations

import asyncio

import pytest

from services.scheduler.adapters.ticks import TickLoop


async def test_a_full_batch_is_followed_at_once_by_another_tick() -> None:
    answers = [True, True, False]
    drained = asyncio.Event()

    async def job() -> bool:
        more = answers.pop(0)
        if not answers:
            drained.set()
        return more

    loop = TickLoop([job], interval=3600, grace_seconds=5)
    task = asyncio.create_task(loop.run())
    async with asyncio.timeout(5):
        await drained.wait()
    await loop.stop()
    await task
    assert answers == []


async def test_an_unreachable_dependency_is_retried_next_tick() -> None:
    calls = 0
    recovered = asyncio.Event()

    async def job() -> bool:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionRefusedError("broker unreachable")
        recovered.set()
        return False

    loop = TickLoop([job], interval=0.001, grace_seconds=5)
    task = asyncio.create_task(loop.run())
    async with asyncio.timeout(5):
        await recovered.wait()
    await loop.stop()
    await task
    assert task.exception() is None


async def test_any_other_failure_ends_the_loop() -> None:
    async def job() -> bool:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await TickLoop([job], interval=0.001).run()


async def test_stop_is_safe_before_run_and_then_nothing_fires() -> None:
    fired = False

    async def job() -> bool:
        nonlocal fired
        fired = True
        return False

    loop = TickLoop([job], interval=0.001, grace_seconds=1)
    await loop.stop()
    await loop.stop()
    await loop.run()
    assert not fired


async def test_a_tick_outlasting_the_grace_period_is_cancelled() -> None:
    started = asyncio.Event()

    async def job() -> bool:
        started.set()
        await asyncio.Event().wait()
        return False

    loop = TickLoop([job], interval=0.001, grace_seconds=0.01)
    task = asyncio.create_task(loop.run())
    await started.wait()
    await loop.stop()
    assert task.cancelled()
