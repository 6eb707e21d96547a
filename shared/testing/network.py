"""A stand-in for DNS: a resolver that answers every name with the addresses it was given."""

from __future__ import annotations

import socket

from aiohttp.abc import AbstractResolver, ResolveResult


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
