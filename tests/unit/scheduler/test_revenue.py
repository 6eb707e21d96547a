"""Daily revenue summaries with a clock moved by hand: one per tenant per local day, every
revenue event counted once, late events in the next summary, one late summary after downtime."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from services.scheduler.domain import DEFAULT_REVENUE_TYPES
from services.scheduler.domain.revenue import revenue_event_id
from services.scheduler.handlers import fire_due_summaries, learn_events, sync_tenant_clocks
from shared.contracts import CloudEvent
from tests.unit.scheduler.fakes import (
    FixedZones,
    HandClock,
    MemoryContracts,
    MemoryRevenue,
    RecordingPublisher,
)

AT = time(0, 5)
DAY = date(2026, 5, 4)


class Scheduler:
    def __init__(self, zones: dict[str, str]) -> None:
        self.clock = HandClock(datetime.combine(DAY, time(9), UTC))
        self.zones = FixedZones(zones)
        self.ledger = MemoryRevenue()
        self.publisher = RecordingPublisher()

    async def sync(self) -> None:
        await sync_tenant_clocks(self.ledger, self.zones, now=self.clock(), at=AT)

    async def see(self, *events: CloudEvent) -> None:
        await learn_events(
            events,
            contracts=MemoryContracts(),
            revenue=self.ledger,
            zones=self.zones,
            now=self.clock(),
            marks=(),
            revenue_types=DEFAULT_REVENUE_TYPES,
        )

    async def scan(self) -> list[CloudEvent]:
        await fire_due_summaries(
            self.ledger, self.publisher, now=self.clock(), at=AT, limit=10, retention_days=35
        )
        return self.publisher.take()


def sale(
    event_id: str, at: datetime, value: Any = 1000, event_type: str = "private_offer.accepted"
) -> CloudEvent:
    return CloudEvent(
        id=event_id,
        source="native",
        type=event_type,  # type: ignore[arg-type]
        time=at,
        tenantid="acme",
        data={"value": value, "customerName": "Globex"},
    )


def noon(day: date) -> datetime:
    return datetime.combine(day, time(12), UTC)


async def test_the_days_revenue_is_summarized_the_next_day_at_the_configured_time() -> None:
    scheduler = Scheduler({"acme": "UTC"})
    await scheduler.sync()
    await scheduler.see(
        sale("e1", noon(DAY), 150000),
        sale("e2", noon(DAY), 2500.5, "contract.created"),
        sale("e3", noon(DAY), "not a number", "contract.renewed"),
        sale("e1", noon(DAY), 150000),  # redelivered
        sale("other", noon(DAY), 99, "customer.created"),
    )
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=1), time(0, 4), UTC)
    assert await scheduler.scan() == []
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=1), AT, UTC)
    [summary] = await scheduler.scan()

    assert summary.type == "revenue.daily_summary"
    assert summary.id == revenue_event_id("acme", DAY)
    assert summary.time == datetime.combine(DAY + timedelta(days=1), AT, UTC)
    assert summary.data == {
        "date": "2026-05-04",
        "periodStart": "2026-05-04",
        "timezone": "UTC",
        "count": 3,
        "value": 152500.5,
        "byType": {
            "contract.created": {"count": 1, "value": 2500.5},
            "contract.renewed": {"count": 1, "value": 0},
            "private_offer.accepted": {"count": 1, "value": 150000},
        },
        "late": False,
    }
    assert await scheduler.scan() == []


async def test_a_day_without_revenue_still_has_its_summary() -> None:
    scheduler = Scheduler({"acme": "UTC"})
    await scheduler.sync()
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=1), time(1), UTC)
    [summary] = await scheduler.scan()
    assert (summary.data["count"], summary.data["value"], summary.data["byType"]) == (0, 0, {})


async def test_an_event_arriving_after_its_days_summary_counts_in_the_next_one() -> None:
    scheduler = Scheduler({"acme": "UTC"})
    await scheduler.sync()
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=1), time(1), UTC)
    [first] = await scheduler.scan()
    await scheduler.see(sale("late", noon(DAY)), sale("today", noon(DAY + timedelta(days=1))))
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=2), time(1), UTC)
    [second] = await scheduler.scan()
    assert first.data["count"] == 0
    assert (second.data["date"], second.data["count"]) == ("2026-05-05", 2)


async def test_history_read_again_is_not_counted_in_todays_summary() -> None:
    scheduler = Scheduler({"acme": "UTC"})
    await scheduler.sync()
    await scheduler.see(
        sale("last-year", noon(DAY - timedelta(days=365))),
        sale("three-days-ago", noon(DAY - timedelta(days=3))),
        sale("yesterday", noon(DAY - timedelta(days=1))),
        sale("today", noon(DAY)),
    )
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=1), time(1), UTC)
    [summary] = await scheduler.scan()
    assert summary.data["count"] == 2  # yesterday's arrived late: it counts today


async def test_after_downtime_one_late_summary_covers_every_missed_day() -> None:
    scheduler = Scheduler({"acme": "UTC"})
    await scheduler.sync()
    await scheduler.see(*(sale(f"e{n}", noon(DAY + timedelta(days=n))) for n in range(4)))
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=4), time(8), UTC)
    [summary] = await scheduler.scan()
    assert summary.data["periodStart"] == "2026-05-04"
    assert summary.data["date"] == "2026-05-07"
    assert (summary.data["count"], summary.data["late"]) == (4, True)
    assert await scheduler.scan() == []
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=5), AT, UTC)
    [next_one] = await scheduler.scan()
    assert (next_one.data["date"], next_one.data["late"]) == ("2026-05-08", False)


async def test_days_and_the_summary_time_follow_the_tenants_zone() -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    scheduler = Scheduler({"acme": "Asia/Tokyo"})
    scheduler.clock.now = datetime.combine(DAY, time(9), tokyo)
    await scheduler.sync()
    # 23:30 UTC on the 4th is the 5th in Tokyo: tomorrow's summary, not today's.
    await scheduler.see(
        sale("today", datetime.combine(DAY, time(10), tokyo)),
        sale("tomorrow", datetime(2026, 5, 4, 23, 30, tzinfo=UTC)),
    )
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=1), AT, tokyo)
    [summary] = await scheduler.scan()
    assert summary.time == datetime(2026, 5, 4, 15, 5, tzinfo=UTC)
    assert (summary.data["date"], summary.data["count"]) == ("2026-05-04", 1)
    assert summary.data["timezone"] == "Asia/Tokyo"


async def test_a_new_zone_moves_the_next_summary_without_skipping_or_repeating_a_day() -> None:
    scheduler = Scheduler({"acme": "UTC"})
    await scheduler.sync()
    scheduler.zones.zones["acme"] = "America/New_York"
    await scheduler.sync()
    scheduler.clock.now = datetime.combine(DAY + timedelta(days=1), time(1), UTC)
    assert await scheduler.scan() == []  # 21:00 the day before in New York
    scheduler.clock.now = datetime.combine(
        DAY + timedelta(days=1), AT, ZoneInfo("America/New_York")
    )
    [summary] = await scheduler.scan()
    assert summary.data["date"] == "2026-05-04"
