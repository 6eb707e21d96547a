"""``DB_SSLMODE`` reaches the real connection: the server's answer depends on it."""

from __future__ import annotations

import asyncpg
import pytest
from pydantic import SecretStr

from shared.postgres import create_pool
from shared.settings import PostgresSettings

pytestmark = pytest.mark.integration


async def test_sslmode_decides_whether_the_connection_is_encrypted(database_url: str) -> None:
    plain = await create_pool(
        PostgresSettings(database_url=SecretStr(database_url), db_sslmode="disable"),
        application_name="tls-test",
    )
    try:
        server_has_tls = await plain.fetchval("SHOW ssl") == "on"
        assert not await plain.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
    finally:
        await plain.close()

    required = PostgresSettings(database_url=SecretStr(database_url), db_sslmode="require")
    if server_has_tls:
        pool = await create_pool(required, application_name="tls-test")
        try:
            assert await pool.fetchval("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        finally:
            await pool.close()
    else:
        with pytest.raises((ConnectionError, asyncpg.PostgresError), match=r"(?i)ssl"):
            await create_pool(required, application_name="tls-test")
