"""A save answers once its changelog record is on the broker; the outbox relay is the fallback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.config_api.service import ConfigApiService
from services.config_api.settings import ConfigApiSettings
from shared.postgres import Pool
from shared.settings import KafkaSettings, PostgresSettings
from tests.integration.config_api.support import Client, changelog_of, key_for

pytestmark = pytest.mark.integration


async def started(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings, **settings: float
) -> AsyncIterator[ConfigApiService]:
    service = ConfigApiService(
        ConfigApiSettings(
            host="127.0.0.1", port=0, kafka=kafka_settings, postgres=postgres_settings, **settings
        )
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


@pytest.fixture
async def api_without_relay_polls(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings
) -> AsyncIterator[ConfigApiService]:
    """The relay runs once at start and then only when a save could not publish."""
    async for service in started(kafka_settings, postgres_settings, outbox_poll_seconds=3600):
        yield service


@pytest.fixture
async def api_with_a_broker_too_slow(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings
) -> AsyncIterator[ConfigApiService]:
    """Every save gives up waiting for its ack at once: the relay must publish its record."""
    async for service in started(
        kafka_settings,
        postgres_settings,
        outbox_poll_seconds=0.1,
        changelog_publish_timeout_seconds=1e-6,
    ):
        yield service


async def test_each_answer_comes_after_its_changelog_record_was_acknowledged(
    api_without_relay_polls: ConfigApiService,
    pool: Pool,
    tenant_id: str,
    kafka_settings: KafkaSettings,
) -> None:
    client = Client(api_without_relay_polls, await key_for(pool, tenant_id))
    created = await client.create()
    key = f"{tenant_id}/{created['id']}"
    path = f"/api/workflows/{created['id']}"
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE key = $1", key) == 0
    assert (await client.request("PUT", path, json={"active": False}))[0] == 200
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE key = $1", key) == 0
    assert (await client.request("DELETE", path))[0] == 204
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE key = $1", key) == 0

    changes = await changelog_of(kafka_settings, key, until=3)
    assert [(change.version, change.workflow is None) for change in changes] == [
        (1, False),
        (2, False),
        (3, True),
    ]


async def test_a_save_the_broker_does_not_acknowledge_in_time_is_published_by_the_relay(
    api_with_a_broker_too_slow: ConfigApiService,
    pool: Pool,
    tenant_id: str,
    kafka_settings: KafkaSettings,
) -> None:
    client = Client(api_with_a_broker_too_slow, await key_for(pool, tenant_id))
    created = await client.create()
    path = f"/api/workflows/{created['id']}"
    assert (await client.request("PUT", path, json={"name": "renamed"}))[0] == 200

    changes = await changelog_of(kafka_settings, f"{tenant_id}/{created['id']}", until=2)
    assert sorted({change.version for change in changes}) == [1, 2]
