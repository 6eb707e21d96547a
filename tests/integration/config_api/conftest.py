"""The config API on this test's topics, against the session's broker and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.config_api.service import ConfigApiService
from services.config_api.settings import ConfigApiSettings
from shared.settings import KafkaSettings, PostgresSettings


@pytest.fixture
async def api(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings
) -> AsyncIterator[ConfigApiService]:
    service = ConfigApiService(
        ConfigApiSettings(
            host="127.0.0.1",
            port=0,
            kafka=kafka_settings,
            postgres=postgres_settings,
            outbox_poll_seconds=0.1,
            max_body_bytes=64 * 1024,
        )
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
