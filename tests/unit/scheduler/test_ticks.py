"""The tick loop's contract: each job runs when it says it is due, ``run_soon`` brings one
forward, outages are retried, bugs stop the loop, a stop lets the run in flight finish."""

from __future__ import annotations

import asyncio

import pytest

from services.scheduler.adapters.ticks import TickJob, TickLoop


async def run_until(loop: TickLoop, done: asyncio.Event) -> None:
    task = asyncio.create_task(loop.run())
    async with asyncio.timeout(5):
        await done.wait()
    await loop.stop()
    await task


async def test_a_job_reporting_more_due_runs_again_at_once() -> None:
    answers = [0.0, 0.0, 3600.0]
    drained = asyncio.Event()

    async def job() -> float:
        more = answers.pop(0)
        if not answers:
            drained.set()
        return more

    await run_until(TickLoop([("job", job)], retry_seconds=3600, grace_seconds=5), drained)
    assert answers == []


async def test_each_job_runs_on_its_own_cadence() -> None:
    runs = {"fast": 0, "slow": 0}
    enough = asyncio.Event()

    def counting(name: str, every: float) -> TickJob:
        async def job() -> float:
            runs[name] += 1
            if runs["fast"] >= 10:
                enough.set()
            return every

        return job

    loop = TickLoop(
        [("slow", counting("slow", 3600)), ("fast", counting("fast", 0.001))], retry_seconds=1
    )
    await run_until(loop, enough)
    assert runs["slow"] == 1
    assert runs["fast"] >= 10


async def test_run_soon_ends_the_sleep_for_that_job() -> None:
    ran = asyncio.Event()
    calls = 0

    async def job() -> float:
        nonlocal calls
        calls += 1
        if calls == 2:
            ran.set()
        return 3600.0

    loop = TickLoop([("job", job)], retry_seconds=3600)
    task = asyncio.create_task(loop.run())
    await asyncio.sleep(0.05)
    assert calls == 1
    loop.run_soon(job, within=0.05)
    async with asyncio.timeout(5):
        await ran.wait()
    await loop.stop()
    await task


async def test_a_run_soon_made_while_the_job_runs_is_not_lost() -> None:
    second = asyncio.Event()
    calls = 0
    loop: TickLoop

    async def job() -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            loop.run_soon(job, within=0)  # work stored while this run is in flight
        else:
            second.set()
        return 3600.0

    loop = TickLoop([("job", job)], retry_seconds=3600)
    await run_until(loop, second)
    assert calls == 2


async def test_an_unreachable_dependency_is_retried_after_the_retry_interval() -> None:
    calls = 0
    recovered = asyncio.Event()

    async def job() -> float:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionRefusedError("broker unreachable")
        recovered.set()
        return 3600.0

    loop = TickLoop([("job", job)], retry_seconds=0.001, grace_seconds=5)
    task = asyncio.create_task(loop.run())
    async with asyncio.timeout(5):
        await recovered.wait()
    await loop.stop()
    await task
    assert task.exception() is None


async def test_any_other_failure_ends_the_loop() -> None:
    async def job() -> float:
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await TickLoop([("job", job)], retry_seconds=0.001).run()


async def test_stop_is_safe_before_run_and_then_nothing_fires() -> None:
    fired = False

    async def job() -> float:
        nonlocal fired
        fired = True
        return 0.001

    loop = TickLoop([("job", job)], retry_seconds=0.001, grace_seconds=1)
    await loop.stop()
    await loop.stop()
    await loop.run()
    assert not fired


async def test_a_run_outlasting_the_grace_period_is_cancelled() -> None:
    started = asyncio.Event()

    async def job() -> float:
        started.set()
        await asyncio.Event().wait()
        return 0.0

    loop = TickLoop([("job", job)], retry_seconds=0.001, grace_seconds=0.01)
    task = asyncio.create_task(loop.run())
    await started.wait()
    await loop.stop()
    assert task.cancelled()
