"""``DB_SSLMODE`` reaches the real connection: the server's answer depends on it.

TLS is negotiated on TCP connections only (over a Unix socket both PostgreSQL and asyncpg
skip it), so when the test database is reached through a socket, as the embedded server is,
the test talks to it through a plain TCP forwarder: the server then answers the client's
SSL request itself, and whether the connection is refused or encrypted is the server's word.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import pytest
from pydantic import SecretStr

from shared.postgres import create_pool
from shared.settings import PostgresSettings
from shared.testing.network import TcpForwarder

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def _over_tcp(url: str) -> Iterator[str]:
    """``url`` itself when it is TCP; else a URL through a TCP forwarder to its socket."""
    parts = urlsplit(url)
    socket_dir = parse_qs(parts.query).get("host", [""])[0]
    if not socket_dir.startswith("/"):
        yield url
        return
    port = parts.port or int(parse_qs(parts.query).get("port", ["5432"])[0])
    socket_path = str(Path(socket_dir) / f".s.PGSQL.{port}")
    user = parts.username or "postgres"
    with TcpForwarder.to_unix_socket(socket_path) as forwarder:
        yield urlunsplit((parts.scheme, f"{user}@{forwarder.address}", parts.path, "", ""))


async def test_sslmode_decides_whether_the_connection_is_encrypted(database_url: str) -> None:
    with _over_tcp(database_url) as url:
        plain = await create_pool(
            PostgresSettings(database_url=SecretStr(url), db_sslmode="disable"),
            application_name="tls-test",
        )
        try:
            server_has_tls = await plain.fetchval("SHOW ssl") == "on"
            assert not await plain.fetchval(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
        finally:
            await plain.close()

        required = PostgresSettings(database_url=SecretStr(url), db_sslmode="require")
        if server_has_tls:
            pool = await create_pool(required, application_name="tls-test")
            try:
                assert await pool.fetchval(
                    "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
                )
            finally:
                await pool.close()
        else:
            with pytest.raises((ConnectionError, asyncpg.PostgresError), match=r"(?i)ssl"):
                await create_pool(required, application_name="tls-test")
