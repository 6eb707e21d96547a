"""Learn contracts and revenue from events.normalized; fire the contract marks that are due."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol

from services.scheduler.domain import (
    ContractFiring,
    ContractObservation,
    ContractRejection,
    DueContract,
    RevenueObservation,
    arm,
    fire_contract,
    observe,
    revenue_observation,
)
from services.scheduler.domain.clock import local_date, zone
from services.scheduler.handlers.ports import EventPublisher, TenantZones, publish_events
from shared.contracts import CloudEvent


@dataclass(frozen=True, slots=True)
class LearnedContract:
    """An observation, with the mark it arms if it starts (or restarts) the contract's marks."""

    observation: ContractObservation
    armed: int | None


class DueContracts(Protocol):
    @property
    def contracts(self) -> Sequence[DueContract]: ...

    async def advance(self, firings: Sequence[ContractFiring]) -> None:
        """Record each firing's next mark (and expiry); kept only if the claim ends cleanly."""


class ContractStore(Protocol):
    async def learn(
        self, contracts: Sequence[LearnedContract], rejections: Sequence[ContractRejection]
    ) -> None:
        """Apply each observation in order (the newest event per contract wins) and record the
        rejections (once per event)."""

    def claim_due(
        self, *, utc_today: date, local_todays: Mapping[str, date], limit: int
    ) -> AbstractAsyncContextManager[DueContracts]:
        """Claim up to ``limit`` active contracts whose next mark's day has come: ``utc_today``
        for tenants absent from ``local_todays``, which holds the others' local day."""


class RevenueLedger(Protocol):
    async def record(self, observations: Sequence[RevenueObservation]) -> None:
        """Count each event once (by event id) in its day, or the first day still open."""


async def learn_events(
    events: Sequence[CloudEvent],
    *,
    contracts: ContractStore,
    revenue: RevenueLedger,
    zones: TenantZones,
    now: datetime,
    marks: Sequence[int],
    revenue_types: Sequence[str],
) -> tuple[int, int]:
    """Learn what ``events`` say about contracts and revenue. Returns (learned, rejected)."""
    await zones.load({event.tenantid for event in events})
    learned: list[LearnedContract] = []
    rejections: list[ContractRejection] = []
    earnings: list[RevenueObservation] = []
    for event in events:
        timezone = zones.timezone(event.tenantid)
        observation = observe(event)
        if isinstance(observation, ContractRejection):
            rejections.append(observation)
        elif observation is not None:
            today = local_date(now, zone(timezone))
            armed = (
                arm(observation.end_date, today, marks)
                if observation.end_date is not None
                else None
            )
            learned.append(LearnedContract(observation, armed))
        earning = revenue_observation(event, timezone=timezone, types=revenue_types)
        if earning is not None:
            earnings.append(earning)
    if learned or rejections:
        await contracts.learn(learned, rejections)
    if earnings:
        await revenue.record(earnings)
    return len(learned), len(rejections)


def local_todays(zones: TenantZones, now: datetime) -> tuple[date, dict[str, date]]:
    """Today in UTC, and the tenants whose local day differs from it, with theirs."""
    utc_today = now.astimezone(UTC).date()
    others: dict[str, date] = {}
    for tenant_id, timezone in zones.known().items():
        today = local_date(now, zone(timezone))
        if today != utc_today:
            others[tenant_id] = today
    return utc_today, others


async def fire_due_contracts(
    store: ContractStore,
    publisher: EventPublisher,
    zones: TenantZones,
    *,
    now: datetime,
    marks: Sequence[int],
    limit: int,
) -> list[ContractFiring]:
    """Fire the latest due mark of each contract due at ``now`` (up to ``limit`` contracts).

    Events are acknowledged before the contracts advance: a crash in between fires the same marks
    again with the same event ids.
    """
    utc_today, others = local_todays(zones, now)
    async with store.claim_due(utc_today=utc_today, local_todays=others, limit=limit) as due:
        firings = [
            fire_contract(
                contract,
                today=others.get(contract.tenant_id, utc_today),
                marks=marks,
                timezone=zones.timezone(contract.tenant_id),
            )
            for contract in due.contracts
        ]
        await publish_events(publisher, (firing.event for firing in firings))
        if firings:
            await due.advance(firings)
    return firings
