"""``TcpForwarder``: relays both ways; a cut resets what it relays and refuses new connections,
a heal accepts them again on the same port, and the server behind never notices either."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shared.testing import TcpForwarder

pytestmark = pytest.mark.integration


@pytest.fixture
async def echo() -> AsyncIterator[tuple[int, list[int]]]:
    """An echo server's port, and how many connections it has seen."""
    seen: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(1)
        try:
            while data := await reader.read(1024):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1]), seen
    finally:
        server.close()
        await server.wait_closed()


async def roundtrip(port: int, payload: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(len(payload)), 5)
    finally:
        writer.close()


async def test_a_cut_resets_and_refuses_until_the_heal(echo: tuple[int, list[int]]) -> None:
    port, seen = echo
    with TcpForwarder.to_tcp("127.0.0.1", port) as forwarder:
        assert await roundtrip(forwarder.port, b"before") == b"before"
        reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)
        writer.write(b"open")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"open"

        forwarder.cut()
        assert forwarder.cut_off
        try:
            rest = await asyncio.wait_for(reader.read(), 5)
        except ConnectionResetError:
            rest = b""
        assert rest == b"", "the relayed connection lives on"
        writer.close()
        with pytest.raises(ConnectionRefusedError):
            await roundtrip(forwarder.port, b"during")

        forwarder.heal()
        assert await roundtrip(forwarder.port, b"after") == b"after"
        assert (forwarder.connections, len(seen)) == (3, 3)
    with pytest.raises(ConnectionRefusedError):
        await roundtrip(forwarder.port, b"stopped")


async def test_a_silent_cut_lets_nothing_through_until_the_heal_delivers_it(
    echo: tuple[int, list[int]],
) -> None:
    port, seen = echo
    with TcpForwarder.to_tcp("127.0.0.1", port) as forwarder:
        reader, writer = await asyncio.open_connection("127.0.0.1", forwarder.port)
        writer.write(b"open")
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"open"

        forwarder.cut(silently=True)
        assert forwarder.cut_off
        writer.write(b"held")
        held = asyncio.create_task(reader.readexactly(4))
        late = asyncio.create_task(roundtrip(forwarder.port, b"late"))  # accepted, then silence
        await asyncio.sleep(0.3)
        assert not held.done()
        assert not late.done()
        assert len(seen) == 1, "a connection made during the silence reached the server"

        forwarder.heal()
        assert await asyncio.wait_for(held, 5) == b"held"
        assert await asyncio.wait_for(late, 5) == b"late"
        writer.close()
        assert (forwarder.connections, len(seen)) == (2, 2)
