"""The scheduler's tables: schedules and changelog progress, timers, contracts, tenant clocks
and revenue; and its read of the tenancy view ``tenant_settings``."""

from services.scheduler.adapters.postgres.contracts import PostgresContractStore
from services.scheduler.adapters.postgres.cron import (
    PostgresChangelogProgress,
    PostgresScheduleStore,
)
from services.scheduler.adapters.postgres.queries import QUERIES, gauges, migrate
from services.scheduler.adapters.postgres.revenue import PostgresRevenue
from services.scheduler.adapters.postgres.tenants import PostgresTenantZones
from services.scheduler.adapters.postgres.timers import PostgresTimerStore

__all__ = [
    "QUERIES",
    "PostgresChangelogProgress",
    "PostgresContractStore",
    "PostgresRevenue",
    "PostgresScheduleStore",
    "PostgresTenantZones",
    "PostgresTimerStore",
    "gauges",
    "migrate",
]
