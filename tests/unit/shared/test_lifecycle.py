"""The one lifecycle: idempotent stop, retried connects, crashed tasks stop the service."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from shared.lifecycle import BackgroundTaskCrashed, Service


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
