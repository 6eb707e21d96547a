"""``contracts`` and ``contract_rejections``: the projection, and claiming contracts whose next
mark is due."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from services.scheduler.adapters.postgres.queries import QUERIES
from services.scheduler.domain import ContractFiring, ContractRejection, DueContract
from services.scheduler.handlers import LearnedContract
from shared.postgres import Pool


@dataclass(frozen=True, slots=True)
class _ClaimedContracts:
    connection: PoolConnectionProxy[asyncpg.Record]
    contracts: Sequence[DueContract]

    async def advance(self, firings: Sequence[ContractFiring]) -> None:
        await self.connection.executemany(
            QUERIES.advance_contract,
            [
                (f.contract.tenant_id, f.contract.contract_id, f.next_days, f.expired)
                for f in firings
            ],
        )


class PostgresContractStore:
    """``ContractStore`` on PostgreSQL: row locks (``SKIP LOCKED``) keep replicas apart."""

    def __init__(self, pool: Pool) -> None:
        self._pool = pool

    async def learn(
        self, contracts: Sequence[LearnedContract], rejections: Sequence[ContractRejection]
    ) -> None:
        rows = []
        for learned in contracts:
            o = learned.observation
            name = o.fields.get("customerName")
            owner = o.fields.get("accountOwnerEmail")
            rows.append(
                (
                    o.tenant_id,
                    o.contract_id,
                    o.status,
                    o.end_date,
                    name if isinstance(name, str) else None,
                    owner if isinstance(owner, str) else None,
                    o.value,
                    o.fields,
                    o.event_time,
                    o.event_id,
                    learned.armed,
                )
            )
        async with self._pool.acquire() as connection, connection.transaction():
            if rows:
                await connection.executemany(QUERIES.learn_contract, rows)
            if rejections:
                await connection.executemany(
                    QUERIES.reject_contract_event,
                    [
                        (r.tenant_id, r.event_id, r.event_type, r.contract_id, r.reason, r.value)
                        for r in rejections
                    ],
                )

    @asynccontextmanager
    async def claim_due(
        self, *, utc_today: date, local_todays: Mapping[str, date], limit: int
    ) -> AsyncIterator[_ClaimedContracts]:
        async with self._pool.acquire() as connection, connection.transaction():
            rows = await connection.fetch(
                QUERIES.claim_due_contracts,
                utc_today,
                list(local_todays),
                list(local_todays.values()),
                limit,
            )
            yield _ClaimedContracts(connection, [_due_contract(row) for row in rows])


def _due_contract(row: asyncpg.Record) -> DueContract:
    return DueContract(
        tenant_id=row["tenant_id"],
        contract_id=row["contract_id"],
        end_date=row["end_date"],
        next_days=row["next_days"],
        fields=row["fields"],
    )
