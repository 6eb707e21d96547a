"""The scheduler on this test's topics, with its tables emptied before and after each test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from services.scheduler.adapters.postgres import migrate
from services.scheduler.settings import SchedulerSettings
from shared.postgres import Pool
from shared.settings import KafkaSettings, PostgresSettings
from tests.integration.scheduler.support import SCHEDULER_TABLES


@pytest.fixture
async def empty_scheduler_tables(pool: Pool) -> AsyncIterator[None]:
    await migrate(pool)
    await pool.execute(f"TRUNCATE {', '.join(SCHEDULER_TABLES)}")
    yield
    await pool.execute(f"TRUNCATE {', '.join(SCHEDULER_TABLES)}")


@pytest.fixture
def settings(
    empty_scheduler_tables: None,
    kafka_settings: KafkaSettings,
    postgres_settings: PostgresSettings,
    topic_prefix: str,
) -> SchedulerSettings:
    return SchedulerSettings(
        host="127.0.0.1",
        port=0,
        kafka=kafka_settings,
        postgres=postgres_settings,
        consumer_group=f"{topic_prefix}scheduler",
        tick_seconds=0.02,
        changelog_check_seconds=0.02,
        timer_max_sleep_seconds=0.2,
        contract_scan_seconds=0.05,
        gauge_seconds=0.05,
        shutdown_grace_seconds=5,
    )
