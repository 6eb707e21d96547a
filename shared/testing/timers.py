"""A stand-in for the scheduler's durable timers, for tests and benchmarks of the executor alone.

``TimerRelay`` reads ``executions.deferred`` and, when each parked execution is due, publishes
its request unchanged to ``executions.requested`` (keyed by workflow id), as the scheduler does.
It keeps its timers in memory (one per ``timer_id``), so it is durable only as long as it runs:
tests that restart every process use the real scheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from pydantic import ValidationError

from shared.contracts import DeferredExecution, Topics
from shared.kafka import Outgoing, decode, publish_all
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)


class TimerRelay:
    """Hands parked executions back when due. ``fired`` lists the timer ids it fired, in order;
    ``parked`` every deferred execution it read."""

    def __init__(self, settings: KafkaSettings, *, speedup: float = 1.0) -> None:
        """``speedup`` > 1 fires every timer early: due in ``d`` seconds fires in ``d / speedup``
        (for benchmarks that cannot wait for real delays; tests keep 1)."""
        self._settings = settings
        self._topics = Topics(settings.topic_prefix)
        self._speedup = speedup
        self._timers: list[tuple[float, str, DeferredExecution]] = []
        self._known: set[str] = set()
        self._wake = asyncio.Event()
        self._released = asyncio.Event()
        self._released.set()
        self._tasks: list[asyncio.Task[None]] = []
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self.parked: list[DeferredExecution] = []
        self.fired: list[str] = []

    async def start(self) -> None:
        self._consumer = AIOKafkaConsumer(
            self._topics.executions_deferred,
            bootstrap_servers=self._settings.bootstrap_servers,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self._settings.fetch_max_wait_ms,
        )
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self._settings.bootstrap_servers, acks="all", linger_ms=1
        )
        await self._consumer.start()
        await self._producer.start()
        self._tasks = [
            asyncio.create_task(self._read(self._consumer), name="timer-relay-read"),
            asyncio.create_task(self._fire(self._producer), name="timer-relay-fire"),
        ]

    def hold(self) -> None:
        """Fire nothing until ``release()``: timers that come due wait (a scheduler that is
        late, or down)."""
        self._released.clear()

    def release(self) -> None:
        self._released.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()

    async def __aenter__(self) -> TimerRelay:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for record in records:
                    try:
                        parked = decode(DeferredExecution, record.value)
                    except (ValidationError, ValueError):
                        log.warning("not a deferred execution; skipped")
                        continue
                    self.parked.append(parked)
                    resumption = parked.resumption
                    if resumption.timer_id in self._known:
                        continue
                    self._known.add(resumption.timer_id)
                    wait = (resumption.due_at - datetime.now(UTC)).total_seconds()
                    due = loop.time() + max(wait, 0.0) / self._speedup
                    heapq.heappush(self._timers, (due, resumption.timer_id, parked))
                    self._wake.set()

    async def _fire(self, producer: AIOKafkaProducer) -> None:
        loop = asyncio.get_running_loop()
        topic = self._topics.executions_requested
        while True:
            self._wake.clear()
            if not self._timers:
                await self._wake.wait()
                continue
            due, timer_id, parked = self._timers[0]
            if due > loop.time():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), due - loop.time())
                continue
            await self._released.wait()
            heapq.heappop(self._timers)
            request = parked.request
            await publish_all(producer, [Outgoing.of(topic, request, key=request.workflow_id)])
            self.fired.append(timer_id)
