"""Lease renewal rides out a database outage in any of asyncpg's forms, and raises a bug."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from services.executor.adapters.postgres import LeaseRenewal, Leases


class FailingPool:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    async def fetch(self, *_args: Any) -> list[Any]:
        self.calls += 1
        raise self.error


def renewal(error: BaseException) -> tuple[LeaseRenewal, FailingPool, Leases]:
    pool, leases = FailingPool(error), Leases()
    leases.hold("token-1")
    # A lease of 0 s: each iteration renews at once.
    return LeaseRenewal(pool, leases, lease_seconds=0), pool, leases  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "outage",
    [
        ConnectionRefusedError(111, "refused"),
        TimeoutError(),  # the pool found no connection in time
        asyncpg.InterfaceError("cannot call Connection.fetch(): connection is closed"),
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator"),
    ],
    ids=["refused", "pool-timeout", "connection-closed", "admin-shutdown"],
)
async def test_an_outage_leaves_the_leases_held_for_the_next_round(outage: BaseException) -> None:
    loop, pool, leases = renewal(outage)
    await loop.iteration()
    await loop.iteration()
    assert pool.calls == 2
    assert leases.tokens == ["token-1"]


async def test_a_bug_is_raised() -> None:
    loop, _, _ = renewal(asyncpg.InterfaceError("the query has the wrong number of arguments"))
    with pytest.raises(asyncpg.InterfaceError):
        await loop.iteration()
