"""The one lifecycle: idempotent stop, retried connects, crashed tasks stop the service, and the
one background loop that stops within its grace period."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from shared.lifecycle import BackgroundLoop, BackgroundTaskCrashed, Service


class Recorder(Service):
    name = "recorder"

    def __init__(self, *, fail_connects: int = 0, crash: bool = False) -> None:
        super().__init__(host="127.0.0.1", port=0)
        self.events: list[str] = []
        self.fail_connects = fail_connects
        self.crash = crash

    async def connect(self, stack: AsyncExitStack) -> None:
        stack.callback(self.events.append, "closed pool")
        if self.fail_connects:
            self.fail_connects -= 1
            raise ConnectionRefusedError("not yet")
        self.events.append("connected")

    async def begin(self, stack: AsyncExitStack) -> None:
        stack.callback(self.events.append, "stopped intake")
        if self.crash:
            self.spawn(self._explode(), name="exploding task")

    async def _explode(self) -> None:
        raise ValueError("boom")


async def test_stop_is_safe_before_start_and_repeatable() -> None:
    service = Recorder()
    await service.stop()
    await service.stop()
    assert service.events == []


async def test_shutdown_runs_in_reverse_order_of_start() -> None:
    service = Recorder()
    async with service:
        assert service.ready
    assert service.events == ["connected", "stopped intake", "closed pool"]
    assert not service.ready


async def test_connection_errors_are_retried_and_failed_attempts_are_closed() -> None:
    service = Recorder(fail_connects=2)
    async with service:
        pass
    assert service.events == [
        "closed pool",
        "closed pool",
        "connected",
        "stopped intake",
        "closed pool",
    ]


async def test_a_crashed_background_task_stops_the_service_with_an_error() -> None:
    service = Recorder(crash=True)
    with pytest.raises(BackgroundTaskCrashed) as crashed:
        await asyncio.wait_for(service.run(), timeout=10)
    assert isinstance(crashed.value.__cause__, ValueError)
    assert service.events[-1] == "closed pool"


class Counting(BackgroundLoop):
    """Counts iterations; each pauses ``pause_for`` seconds, or blocks while ``block`` is set."""

    def __init__(self, *, grace_seconds: float = 5, pause_for: float = 3600) -> None:
        super().__init__(name="counting", grace_seconds=grace_seconds)
        self.iterations = 0
        self.pause_for = pause_for
        self.block = False
        self.blocked = asyncio.Event()
        self.events: list[str] = []

    async def open(self) -> None:
        self.events.append("opened")

    async def close(self) -> None:
        self.events.append("closed")

    async def iteration(self) -> None:
        self.iterations += 1
        if self.block:
            self.blocked.set()
            await asyncio.Event().wait()
        await self.pause(self.pause_for)


async def test_a_loop_stopped_before_it_starts_never_iterates_nor_opens() -> None:
    loop = Counting()
    await loop.stop()
    await loop.stop()
    await loop.start()
    await loop.run()
    assert loop.iterations == 0
    assert loop.events == []


async def test_a_stop_ends_a_pause_at_once_and_closes_once() -> None:
    loop = Counting(pause_for=3600)
    await loop.start()
    task = asyncio.create_task(loop.run())
    while loop.iterations == 0:
        await asyncio.sleep(0)
    async with asyncio.timeout(2):
        await loop.stop()
    await task
    await loop.stop()
    assert loop.events == ["opened", "closed"]


async def test_a_wake_ends_a_pause_and_is_not_lost_when_it_comes_early() -> None:
    loop = Counting(pause_for=3600)
    loop.wake()  # before the first pause: the pause returns at once
    task = asyncio.create_task(loop.run())
    async with asyncio.timeout(2):
        while loop.iterations < 2:
            await asyncio.sleep(0)
        loop.wake()
        while loop.iterations < 3:
            await asyncio.sleep(0)
    await loop.stop()
    await task


async def test_an_iteration_outlasting_the_grace_period_is_cancelled() -> None:
    loop = Counting(grace_seconds=0.01)
    loop.block = True
    await loop.start()
    task = asyncio.create_task(loop.run())
    await loop.blocked.wait()
    await loop.stop()
    assert task.cancelled()
    assert loop.events == ["opened", "closed"]


async def test_a_stop_requested_while_connecting_ends_the_retries() -> None:
    service = Recorder(fail_connects=10**6)
    starting = asyncio.create_task(service.start())
    while len(service.events) < 2:
        await asyncio.sleep(0.01)
    service.request_stop()
    async with asyncio.timeout(5):
        await starting
    await service.stop()
    assert "connected" not in service.events
    assert not service.ready
