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

``BackgroundLoop`` is the one way a service runs work in the background (consumers, tick loops,
relays): it stops within a grace period, and ``Service.run_in_background`` wires it in.

``wait_out_outages`` is the one way a unit of work (a record, a relay's batch) survives a
dependency that goes away mid-run (PostgreSQL restarted, the broker unreachable): it is run again
from its start, with backoff, for as long as it fails with a connection error. The HTTP server
answers such an error with a 503 (``outage_code``), never a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any, TypeVar

import stamina
from aiohttp import web

from shared.observability import HttpServer

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[bool]]
T = TypeVar("T")

_WAIT_INITIAL, _WAIT_MAX, _WAIT_JITTER = 0.2, 5.0, 0.2
"""Backoff before reaching an unreachable dependency again: 0.2 s, doubling up to 5 s."""


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
            outage_code=outage_code,
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
        """``connect()`` until it succeeds, backing off (stamina) while dependencies are
        unreachable; a stop request ends the attempts at once."""

        async def connect_once() -> AsyncExitStack:
            stack = AsyncExitStack()
            try:
                await self.connect(stack)
            except BaseException:
                await stack.aclose()
                raise
            return stack

        async def connect_until_reachable() -> AsyncExitStack:
            return await wait_out_outages(connect_once, what=f"{self.name} connect")

        connecting = asyncio.ensure_future(connect_until_reachable())
        stopping = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait([connecting, stopping], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            if not connecting.done():
                connecting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await connecting
        if not connecting.cancelled():
            self.stack.push_async_callback(connecting.result().aclose)

    def run_in_background(self, loop: BackgroundLoop, stack: AsyncExitStack) -> None:
        """Run ``loop`` as a background task; ``stack`` stops it (within its grace period).

        The loop must have been started (``await loop.start()``) if it needs to be.
        """
        stack.push_async_callback(loop.stop)
        self.spawn(loop.run(), name=loop.name)

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


_POSTGRES_CONNECTION_ERRORS = frozenset(
    {
        # SQLSTATE class 08 (connection exception), except 08P01 (protocol violation): that one
        # is the client's fault.
        "ConnectionDoesNotExistError",  # the connection was closed in the middle of a query
        "ConnectionFailureError",
        "ClientCannotConnectError",
        "ConnectionRejectionError",
        "TransactionResolutionUnknownError",
        # Class 57: the server going down or not yet up; 57014 (a cancelled query) is not one.
        "AdminShutdownError",  # 57P01, "terminating connection due to administrator command"
        "CrashShutdownError",  # 57P02
        "CannotConnectNowError",  # 57P03, "the database system is starting up / shutting down"
    }
)


def is_database_outage(error: BaseException) -> bool:
    """Whether ``error`` is asyncpg's way of saying the server went away or is not up yet.

    Beside the server's own codes, asyncpg raises ``InterfaceError`` "… connection is closed"
    when a connection the server dropped is used again (a transaction rolled back on it), and
    ``InternalClientError`` "… another operation (2) is in progress" when the pool hands out a
    connection the server is closing; every other ``InterfaceError`` or ``InternalClientError``
    is a misuse of the API or a bug. Matched by name, like
    aiokafka's errors, so that this module imports neither client.
    """
    names = {cls.__name__ for cls in type(error).__mro__}
    if names & _POSTGRES_CONNECTION_ERRORS:
        return True
    if "InterfaceError" in names:
        return "connection is closed" in str(error)
    # An idle pooled connection that received the server's goodbye (57P01) drops what follows
    # (its protocol's state 2, "consuming an error") until its socket closes; acquired in that
    # instant, it refuses the next query with this.
    return "InternalClientError" in names and "another operation (2) is in progress" in str(error)


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` means "a dependency is not reachable yet" rather than a bug."""
    if isinstance(error, OSError | ConnectionError | TimeoutError):
        return True
    # aiokafka's errors do not derive from OSError; asyncpg's connection failures mostly do.
    names = {cls.__name__ for cls in type(error).__mro__}
    return bool(names & _KAFKA_CONNECTION_ERRORS) or is_database_outage(error)


def outage_code(error: BaseException) -> str | None:
    """The error code an HTTP answer (503) gives for ``error`` when it is an outage, else None.

    A service's HTTP handlers reach only PostgreSQL and Kafka, so a connection error that is
    not one of aiokafka's is the database's (asyncpg reports a refused connection as a plain
    ``OSError``).
    """
    if not is_connection_error(error):
        return None
    names = {cls.__name__ for cls in type(error).__mro__}
    return "broker_unavailable" if names & _KAFKA_CONNECTION_ERRORS else "database_unavailable"


async def wait_out_outages(work: Callable[[], Awaitable[T]], *, what: str) -> T:
    """``work()``'s result, running it again from its start, with backoff, for as long as it
    fails with a connection error (``is_connection_error``); any other error is raised at once.

    For work that may be repeated (an at-least-once record handler, a relay's batch whose
    transaction was rolled back): a record's offset is not committed while it waits, so nothing
    is lost. There is no limit: the wait ends when the dependency is back, or when the caller is
    cancelled (a ``BackgroundLoop`` stopping cancels its work after its grace period).
    """
    async for attempt in stamina.retry_context(
        on=_outage_seen(what),
        attempts=None,
        timeout=None,
        wait_initial=_WAIT_INITIAL,
        wait_max=_WAIT_MAX,
        wait_jitter=_WAIT_JITTER,
    ):
        with attempt:
            return await work()
    raise AssertionError("unreachable: the retries never end")  # pragma: no cover


def _outage_seen(what: str) -> Callable[[Exception], bool]:
    def retried(error: Exception) -> bool:
        if not is_connection_error(error):
            return False
        log.warning(
            "dependency unreachable; waiting it out", extra={"work": what, "error": repr(error)}
        )
        return True

    return retried


class BackgroundLoop(ABC):
    """Work that repeats in the background until stopped: consumers, tick loops, relays.

    ``run()`` calls ``iteration()`` until ``stop()``; an iteration that has nothing to do waits
    with ``pause()``, which a stop (or ``wake``) ends at once. ``stop()`` lets the iteration in
    flight finish within ``grace_seconds`` and cancels it after that, then ``close()`` releases
    what ``open()`` acquired. ``stop()`` is idempotent and safe before ``start()`` or ``run()``;
    ``run()`` after ``stop()`` returns at once. An exception from ``iteration`` ends ``run()``
    with it (and, run through ``Service.run_in_background``, the service).
    """

    def __init__(
        self, *, name: str, grace_seconds: float, wake: asyncio.Event | None = None
    ) -> None:
        self.name = name
        self.grace_seconds = grace_seconds
        self._wake = wake if wake is not None else asyncio.Event()
        self._stopping = asyncio.Event()
        self._done = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None
        self._opened = False
        self._closed = False

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Acquire what the iterations need (a consumer, a session). Called by ``start()``."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what ``open()`` acquired; called once, after the last iteration."""

    @abstractmethod
    async def iteration(self) -> None:
        """One round of work. Returns when it is done; ``pause()`` when there is nothing to do."""

    async def start(self) -> None:
        """Open the loop's resources; ``run()`` may follow."""
        if self._closed:
            return
        await self.open()
        self._opened = True

    def wake(self) -> None:
        """End the current (or next) ``pause()`` early: there may be work."""
        self._wake.set()

    async def pause(self, seconds: float) -> None:
        """Wait up to ``seconds``; less when woken (also by a wake during the iteration) or
        stopping."""
        if not self._wake.is_set() and not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=seconds)
        self._wake.clear()

    async def run(self) -> None:
        """Iterate until ``stop()``; raises what an iteration raises."""
        self._task = asyncio.current_task()
        try:
            while not self._stopping.is_set():
                await self.iteration()
        finally:
            self._done.set()

    async def stop(self) -> None:
        """Finish (or, past the grace period, cancel) the iteration in flight, then close."""
        self._stopping.set()
        self._wake.set()
        if self._closed:
            return
        self._closed = True
        task = self._task
        if task is not None and not self._done.is_set():
            try:
                await asyncio.wait_for(asyncio.shield(self._done.wait()), self.grace_seconds)
            except TimeoutError:
                log.warning(
                    "work in flight cancelled after the grace period",
                    extra={"loop": self.name, "grace_seconds": self.grace_seconds},
                )
                task.cancel()
                await self._done.wait()
        if self._opened:
            await self.close()
