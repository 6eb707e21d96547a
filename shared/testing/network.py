"""Network stand-ins: a resolver with fixed answers (DNS), and a TCP forwarder that can be cut
(a network partition between clients and a server that keeps running)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from aiohttp.abc import AbstractResolver, ResolveResult

T = TypeVar("T")

Connect = Callable[[], Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]]


class FixedResolver(AbstractResolver):
    """Resolves every name to ``addresses`` (a name rebinding to loopback, say); ``closed`` once
    closed."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.closed = False

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=address, port=port, family=family, proto=0, flags=0)
            for address in self.addresses
        ]

    async def close(self) -> None:
        self.closed = True


class TcpForwarder:
    """Relays every TCP connection to 127.0.0.1:``port`` to a target, on a thread of its own
    (so a caller that blocks, a test stopping processes, never stalls the relayed traffic).

    ``cut()`` is a network partition, until ``heal()``. By default every relayed connection is
    reset and new ones are refused (nothing listens on ``port``); the heal listens on the same
    port again. ``cut(silently=True)`` drops the traffic instead, as a partition that nothing
    reports does: connections stay open (new ones are accepted) but nothing gets through either
    way — what is sent meanwhile arrives after the heal, as TCP would retransmit it, unless the
    sender gave up and closed the connection. The target is never touched: a server behind the
    forwarder keeps its state. ``stop()`` is idempotent and safe before ``start()``.
    """

    def __init__(self, connect: Connect, *, port: int = 0) -> None:
        self.port = port
        self._connect = connect
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._flowing: asyncio.Event | None = None
        self._relays: set[asyncio.Task[Any]] = set()
        self._transports: set[asyncio.WriteTransport] = set()
        self.connections = 0
        """Connections relayed since start (a client reconnecting after a heal counts anew)."""

    @classmethod
    def to_tcp(cls, host: str, port: int, *, listen_port: int = 0) -> TcpForwarder:
        return cls(lambda: asyncio.open_connection(host, port), port=listen_port)

    @classmethod
    def to_unix_socket(cls, path: str, *, listen_port: int = 0) -> TcpForwarder:
        return cls(lambda: asyncio.open_unix_connection(path), port=listen_port)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def cut_off(self) -> bool:
        return self._server is None or self._flowing is None or not self._flowing.is_set()

    def start(self) -> None:
        """Listen on ``port`` (a free one when 0) and relay until ``stop()``."""
        if self._loop is not None:
            return
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(
            target=loop.run_forever, name=f"tcp-forwarder:{self.port}", daemon=True
        )
        self._thread.start()
        self._call(self._listen())

    def cut(self, *, silently: bool = False) -> None:
        """Reset every relayed connection and refuse new ones (``silently``: let nothing
        through, and say nothing), until ``heal()``."""
        self._call(self._silence() if silently else self._cut())

    def heal(self) -> None:
        """Relay again: listen on the same port after a cut, let the traffic through after a
        silent one."""
        self._call(self._heal())

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._call(self._cut())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> TcpForwarder:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the forwarder is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    async def _heal(self) -> None:
        if self._server is None:
            await self._listen()
        if self._flowing is not None:
            self._flowing.set()

    async def _silence(self) -> None:
        if self._flowing is not None:
            self._flowing.clear()

    async def _listen(self) -> None:
        if self._flowing is None:
            self._flowing = asyncio.Event()
            self._flowing.set()
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _cut(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for transport in list(self._transports):
            transport.abort()  # a reset, as a dropped route ends up
        if self._flowing is not None:
            self._flowing.set()  # what waited out a silent cut meets its reset connection
        # Not cancelled: Python 3.11's stream server logs a cancelled handler as an error.
        relays = list(self._relays)
        if relays:
            await asyncio.wait(relays, timeout=5)
        if server is not None:
            await server.wait_closed()

    async def _relay(
        self, client_reader: asyncio.StreamReader, client: asyncio.StreamWriter
    ) -> None:
        flowing = self._flowing
        if self._server is None or flowing is None:  # accepted just before the cut
            client.transport.abort()
            return
        this = asyncio.current_task()
        if this is not None:
            self._relays.add(this)
        self._transports.add(client.transport)
        server: asyncio.StreamWriter | None = None
        try:
            await flowing.wait()  # a connection made during a silent cut waits for the heal
            if self._server is None or client.transport.is_closing():
                return
            try:
                server_reader, server = await self._connect()
            except OSError:
                client.transport.abort()
                return
            self.connections += 1
            self._transports.add(server.transport)
            await asyncio.gather(
                _pipe(client_reader, server, flowing), _pipe(server_reader, client, flowing)
            )
        finally:
            self._relays.discard(this)
            for writer in (client, server):
                if writer is not None:
                    self._transports.discard(writer.transport)
                    writer.transport.close()


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event
) -> None:
    """Copy ``reader`` to ``writer`` whenever ``flowing``, until either end closes; then close
    ``writer``."""
    try:
        while True:
            chunk = await reader.read(65536)
            await flowing.wait()
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
