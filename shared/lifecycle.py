"""How every service starts, runs and stops: one lifecycle, one exit stack, one stop signal.

``Service.run()`` is the whole life of a process:

1. the HTTP server (``self.http``) comes up first, so ``/healthz`` answers and ``/readyz`` says 503;
2. ``connect()`` reaches Kafka and PostgreSQL, retrying with backoff until it succeeds or a stop
   is requested (a broker that is still starting is not a reason to crash);
3. ``begin()`` starts intake (consumers, timers, the API); the service is now ready;
4. the service runs until SIGTERM/SIGINT or until a background task crashes;
5. everything registered on the exit stack is closed in reverse order — intake first, then
   in-flight work is drained, offsets committed, producers and pools closed.

A crashed background task stops the service, and ``run()`` then raises it so the process exits
non-zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

from aiohttp import web

from shared.observability import HttpServer

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]


class BackgroundTaskCrashed(RuntimeError):
    """A task the service depends on ended with an exception."""


class Service(ABC):
    """Base of every service's composition root.

    Subclasses implement ``connect`` (acquire clients, retried until it succeeds) and ``begin``
    (start intake), registering every resource on ``self.stack`` in the order it must be closed
    last-first. ``stop()`` is idempotent and safe to call before ``start()``.
    """

    name: str = "service"

    def __init__(self, *, host: str, port: int, client_max_size: int = 1024**2) -> None:
        self.http = HttpServer(
            host=host,
            port=port,
            is_ready=lambda: self.ready,
            check_ready=self.check_ready,
            client_max_size=client_max_size,
        )
        self.stack = AsyncExitStack()
        self.readiness_checks: list[ReadinessCheck] = []
        self._stop_requested = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._crash: BaseException | None = None
        self._ready = False
        self._closed = False

    @property
    def ready(self) -> bool:
        """True once intake has begun and until shutdown starts."""
        return self._ready and not self._stop_requested.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop_requested.is_set()

    async def check_ready(self) -> bool:
        """Whether the service is started and every dependency answers right now."""
        if not self.ready:
            return False
        results = await asyncio.gather(
            *(check() for check in self.readiness_checks), return_exceptions=True
        )
        return all(result is True for result in results)

    def add_routes(self, app: web.Application) -> None:  # noqa: B027 - optional hook
        """Register the service's own HTTP routes beside /healthz, /readyz and /metrics.

        Called before the server starts; routes answer 503 until the service is ready.
        """

    @abstractmethod
    async def connect(self, stack: AsyncExitStack) -> None:
        """Acquire clients and pools, registering their closing on ``stack``.

        Retried with backoff while it fails with a connection error; a failed attempt's
        ``stack`` is closed before the next one.
        """

    @abstractmethod
    async def begin(self, stack: AsyncExitStack) -> None:
        """Start intake (consumers, timers, request handling), registering its stopping."""

    def spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        """Run ``coro`` in the background; if it raises, the service stops and fails."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._on_task_done)
        return task

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and self._crash is None:
            log.error(
                "background task crashed; stopping",
                extra={"task": task.get_name()},
                exc_info=error,
            )
            self._crash = error
            self._stop_requested.set()

    async def cancel_tasks(self) -> None:
        """Cancel the background tasks still running and wait for them."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def request_stop(self) -> None:
        """Ask the service to shut down; ``run()`` returns once it has."""
        self._stop_requested.set()

    async def start(self) -> None:
        """Bring the service to ready: HTTP up, dependencies connected, intake begun."""
        await self.stack.__aenter__()
        self.stack.push_async_callback(self.cancel_tasks)
        self.add_routes(self.http.app)
        await self.http.start()
        self.stack.push_async_callback(self.http.stop)
        await self._connect_with_retry()
        if self._stop_requested.is_set():
            return
        await self.begin(self.stack)
        self._ready = True
        log.info("service ready", extra={"service": self.name})

    async def _connect_with_retry(self) -> None:
        delay = 0.2
        while not self._stop_requested.is_set():
            attempt = AsyncExitStack()
            try:
                await self.connect(attempt)
            except Exception as error:
                await attempt.aclose()
                if not is_connection_error(error):
                    raise
                log.warning(
                    "dependencies not reachable yet; retrying",
                    extra={"service": self.name, "error": repr(error), "retry_in_s": delay},
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_requested.wait(), timeout=delay)
                delay = min(delay * 2, 5.0)
            else:
                self.stack.push_async_callback(attempt.aclose)
                return

    async def stop(self) -> None:
        """Shut down in reverse order of start. Safe to call repeatedly and before ``start``."""
        self._stop_requested.set()
        if self._closed:
            return
        self._closed = True
        self._ready = False
        await self.stack.aclose()

    async def run(self) -> None:
        """Start, serve until a stop is requested or a task crashes, then stop completely."""
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self.start()
            await self._stop_requested.wait()
            log.info("service stopping", extra={"service": self.name})
        finally:
            await self.stop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        if self._crash is not None:
            raise BackgroundTaskCrashed(f"{self.name} stopped after a crash") from self._crash
        log.info("service stopped", extra={"service": self.name})

    async def __aenter__(self) -> Service:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


_KAFKA_CONNECTION_ERRORS = frozenset(
    {"KafkaConnectionError", "NodeNotReadyError", "RequestTimedOutError", "KafkaTimeoutError"}
)


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` means "a dependency is not reachable yet" rather than a bug."""
    if isinstance(error, OSError | ConnectionError | TimeoutError):
        return True
    # aiokafka's errors do not derive from OSError; asyncpg's connection failures mostly do.
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & _KAFKA_CONNECTION_ERRORS) or "CannotConnectNowError" in names
