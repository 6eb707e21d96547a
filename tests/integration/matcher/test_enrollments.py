"""Enrollment state in real PostgreSQL: the first execution per subject wins, redeliveries pass."""

from __future__ import annotations

import asyncio

import pytest

from services.matcher.adapters.postgres import PostgresEnrollments, migrate
from services.matcher.domain import EnrollmentKey
from shared.postgres import Pool

pytestmark = pytest.mark.integration


async def test_only_the_first_execution_per_subject_is_enrolled(pool: Pool, tenant_id: str) -> None:
    await migrate(pool)
    enrollments = PostgresEnrollments(pool)
    first = EnrollmentKey(tenant_id, "wf_1", "account-1", "exe_first")
    second = EnrollmentKey(tenant_id, "wf_1", "account-1", "exe_second")
    other_subject = EnrollmentKey(tenant_id, "wf_1", "account-2", "exe_third")
    other_tenant = EnrollmentKey(tenant_id + "-b", "wf_1", "account-1", "exe_fourth")

    assert await enrollments.enrolled([first, other_subject]) == [True, True]
    assert await enrollments.enrolled([second, first, other_tenant]) == [False, True, True]


async def test_concurrent_first_events_enroll_exactly_one(pool: Pool, tenant_id: str) -> None:
    await migrate(pool)
    enrollments = PostgresEnrollments(pool)
    keys = [EnrollmentKey(tenant_id, "wf_race", "account-1", f"exe_{n}") for n in range(5)]
    results = await asyncio.gather(*(enrollments.enrolled([key]) for key in keys))
    assert sum(result == [True] for result in results) == 1
