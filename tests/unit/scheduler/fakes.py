"""In-memory stand-ins for the scheduler's stores, with the semantics of its SQL (the
integration suite checks the SQL itself), and a clock the tests move by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from services.scheduler.domain import (
    ContractFiring,
    ContractRejection,
    DueContract,
    RevenueObservation,
    TenantClock,
    Timer,
    TypeTotal,
)
from services.scheduler.handlers import LearnedContract
from shared.contracts import CloudEvent


class HandClock:
    """Shows ``now`` until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def at(self, day: date, hour: int = 12, zone: Any = UTC) -> None:
        self.now = datetime.combine(day, time(hour), tzinfo=zone).astimezone(UTC)


@dataclass
class RecordingPublisher:
    published: list[CloudEvent] = field(default_factory=list)
    requests: list[Timer] = field(default_factory=list)
    fail: bool = False

    async def publish(self, events: Sequence[CloudEvent]) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.published.extend(events)

    async def publish_requests(self, timers: Sequence[Timer]) -> None:
        if self.fail:
            raise ConnectionError("broker unreachable")
        self.requests.extend(timers)

    def take(self) -> list[CloudEvent]:
        taken, self.published = self.published, []
        return taken


@dataclass
class FixedZones:
    zones: dict[str, str] = field(default_factory=dict)

    def timezone(self, tenant_id: str) -> str:
        return self.zones.get(tenant_id, "UTC")

    def known(self) -> dict[str, str]:
        return dict(self.zones)

    async def load(self, tenant_ids: Iterable[str]) -> None:
        return None

    async def refresh(self) -> dict[str, str]:
        return dict(self.zones)


@dataclass
class StoredContract:
    status: str
    end_date: date | None
    fields: dict[str, Any]
    event_key: tuple[datetime, str]
    next_days: int | None


@dataclass
class ContractClaim:
    contracts: Sequence[DueContract]
    advanced: list[ContractFiring] = field(default_factory=list)

    async def advance(self, firings: Sequence[ContractFiring]) -> None:
        self.advanced.extend(firings)


@dataclass
class MemoryContracts:
    """``ContractStore`` as ``learn_contract`` / ``claim_due_contracts`` / ``advance_contract``."""

    rows: dict[tuple[str, str], StoredContract] = field(default_factory=dict)
    rejections: dict[tuple[str, str], ContractRejection] = field(default_factory=dict)

    async def learn(
        self, contracts: Sequence[LearnedContract], rejections: Sequence[ContractRejection]
    ) -> None:
        for learned in contracts:
            o = learned.observation
            key = (o.tenant_id, o.contract_id)
            old = self.rows.get(key)
            event_key = (o.event_time, o.event_id)
            if old is None:
                status = o.status or "active"
                armed = learned.armed if status == "active" and o.end_date else None
                self.rows[key] = StoredContract(
                    status, o.end_date, dict(o.fields), event_key, armed
                )
                continue
            if old.event_key >= event_key:
                continue
            status = o.status or old.status
            end_date = o.end_date or old.end_date
            if status != "active" or end_date is None:
                next_days = None
            elif old.status == "active" and old.end_date == end_date:
                next_days = old.next_days
            else:
                next_days = learned.armed
            self.rows[key] = StoredContract(
                status, end_date, {**old.fields, **o.fields}, event_key, next_days
            )
        for rejection in rejections:
            self.rejections.setdefault((rejection.tenant_id, rejection.event_id), rejection)

    @asynccontextmanager
    async def claim_due(
        self, *, utc_today: date, local_todays: Mapping[str, date], limit: int
    ) -> AsyncIterator[ContractClaim]:
        due: list[tuple[date, DueContract]] = []
        for (tenant_id, contract_id), row in self.rows.items():
            if row.next_days is None or row.end_date is None:
                continue
            due_day = row.end_date - timedelta(days=row.next_days)
            if due_day <= local_todays.get(tenant_id, utc_today):
                contract = DueContract(
                    tenant_id, contract_id, row.end_date, row.next_days, dict(row.fields)
                )
                due.append((due_day, contract))
        due.sort(key=lambda pair: pair[0])
        claim = ContractClaim([contract for _, contract in due[:limit]])
        yield claim
        for firing in claim.advanced:
            key = (firing.contract.tenant_id, firing.contract.contract_id)
            row = self.rows[key]
            self.rows[key] = replace(
                row,
                next_days=firing.next_days,
                status="expired" if firing.expired else row.status,
            )


@dataclass
class ClockClaim:
    ledger: MemoryRevenue
    clocks: Sequence[TenantClock]
    advanced: list[TenantClock] = field(default_factory=list)

    async def totals(self, tenant_id: str, first_day: date, last_day: date) -> list[TypeTotal]:
        sums: dict[str, TypeTotal] = {}
        for (tenant, _), (event_type, day, value) in sorted(self.ledger.events.items()):
            if tenant != tenant_id or not first_day <= day <= last_day:
                continue
            total = sums.get(event_type, TypeTotal(event_type, 0, Decimal(0)))
            extra = Decimal(str(value)) if value is not None else Decimal(0)
            sums[event_type] = TypeTotal(event_type, total.count + 1, total.value + extra)
        return [sums[name] for name in sorted(sums)]

    async def advance(self, clocks: Sequence[TenantClock], *, retention_days: int) -> None:
        self.advanced.extend(clocks)


@dataclass
class MemoryRevenue:
    """``RevenueLedger`` and ``TenantClockStore`` as the SQL of ``revenue_events`` and
    ``tenant_clocks``."""

    events: dict[tuple[str, str], tuple[str, date, int | float | None]] = field(
        default_factory=dict
    )
    stored_clocks: dict[str, TenantClock] = field(default_factory=dict)

    late_days: int = 2

    async def record(self, observations: Sequence[RevenueObservation]) -> None:
        for o in observations:
            clock = self.stored_clocks.get(o.tenant_id)
            recent = clock is not None and clock.summary_day - timedelta(self.late_days) <= o.day
            day = max(o.day, clock.summary_day) if clock and recent else o.day
            self.events.setdefault((o.tenant_id, o.event_id), (o.event_type, day, o.value))

    async def clocks(self) -> list[TenantClock]:
        return list(self.stored_clocks.values())

    async def save(self, clocks: Sequence[TenantClock]) -> None:
        for clock in clocks:
            stored = self.stored_clocks.get(clock.tenant_id)
            if stored is None or stored.summary_day == clock.summary_day:
                self.stored_clocks[clock.tenant_id] = clock

    @asynccontextmanager
    async def claim_due(self, now: datetime, limit: int) -> AsyncIterator[ClockClaim]:
        due = sorted(
            (c for c in self.stored_clocks.values() if c.summary_at <= now),
            key=lambda c: c.summary_at,
        )
        claim = ClockClaim(self, due[:limit])
        yield claim
        for clock in claim.advanced:
            self.stored_clocks[clock.tenant_id] = clock
