"""The ingest service under test, against the session's broker and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.ingest.service import IngestService
from services.ingest.settings import IngestSettings
from shared.settings import KafkaSettings, PostgresSettings


@pytest.fixture
async def ingest(
    kafka_settings: KafkaSettings, postgres_settings: PostgresSettings
) -> AsyncIterator[IngestService]:
    service = IngestService(
        IngestSettings(host="127.0.0.1", port=0, kafka=kafka_settings, postgres=postgres_settings)
    )
    await service.start()
    try:
        yield service
    finally:
        await service.stop()
