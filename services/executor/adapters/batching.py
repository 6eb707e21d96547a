"""Calls to PostgreSQL that arrive together share one statement, and so one commit.

An execution commits twice at least (recorded as running before its first step, ended with its
last), and each commit waits for the WAL to reach the disk. With many executions in flight, a
statement per call spends the database's time on flushes; ``Batched`` sends the calls that queue
up while its statements are in flight as one statement each. Nothing waits on purpose: a call
that finds a statement slot free goes at once, alone. (No library does this for asyncpg; it is
small and the tests drive it.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from services.executor.handlers import UnstorableInput

I = TypeVar("I")  # noqa: E741 - input
O = TypeVar("O")  # noqa: E741 - output


class Batched(Generic[I, O]):
    """``await batched(item)`` runs ``run_batch`` over the items queued with it.

    At most ``concurrency`` batches run at once, each of at most ``max_size`` items, in the
    order the calls came. ``run_batch`` returns one result per item, in order. If it raises one
    of ``isolate_on`` (``UnstorableInput`` by default: one item PostgreSQL refuses spoils its
    whole statement), every item of the batch is run alone with ``run_one``, so that only that
    one fails; any other error fails every call of the batch.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[I]], Awaitable[Sequence[O]]],
        run_one: Callable[[I], Awaitable[O]],
        *,
        concurrency: int = 4,
        max_size: int = 500,
        isolate_on: tuple[type[Exception], ...] = (UnstorableInput,),
    ) -> None:
        self._isolate_on = isolate_on
        self._run_batch = run_batch
        self._run_one = run_one
        self._concurrency = concurrency
        self._max_size = max_size
        self._queue: list[tuple[I, asyncio.Future[O]]] = []
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, item: I) -> O:
        future: asyncio.Future[O] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._start_batches()
        return await future

    def _start_batches(self) -> None:
        while self._queue and len(self._running) < self._concurrency:
            batch = self._queue[: self._max_size]
            del self._queue[: self._max_size]
            task = asyncio.create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        self._start_batches()

    async def _run(self, batch: list[tuple[I, asyncio.Future[O]]]) -> None:
        items = [item for item, _ in batch]
        try:
            try:
                results = await self._run_batch(items) if len(items) > 1 else None
            except self._isolate_on:
                results = None
            if results is None:
                for item, future in batch:
                    await self._one(item, future)
                return
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)
        except BaseException as error:
            for _, future in batch:
                if not future.done():
                    future.set_exception(error)
            if not isinstance(error, Exception):
                raise

    async def _one(self, item: I, future: asyncio.Future[O]) -> None:
        try:
            result = await self._run_one(item)
        except Exception as error:
            if not future.done():
                future.set_exception(error)
            return
        if not future.done():
            future.set_result(result)
