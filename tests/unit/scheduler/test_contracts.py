"""Contract date rules with a clock moved by hand: every threshold, renewals, cancellations,
late firing after downtime, expiry, time zones, and what events are learned or rejected."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.scheduler.domain import (
    EXPIRED,
    ContractObservation,
    ContractRejection,
    arm,
    contract_event_id,
    marks_of,
    observe,
)
from services.scheduler.handlers import fire_due_contracts, learn_events
from shared.contracts import CloudEvent
from shared.workflows import WorkflowDefinition, evaluate
from tests.unit.scheduler.fakes import (
    FixedZones,
    HandClock,
    MemoryContracts,
    MemoryRevenue,
    RecordingPublisher,
)
from tests.unit.workflows.test_seed_examples import RENEWAL_REMINDER

MARKS = marks_of((90, 60, 30, 7, 1))
END = date(2027, 6, 30)


def contract_event(
    event_type: str = "contract.created",
    *,
    end: object = END.isoformat(),
    contract_id: str = "ctr-1",
    at: datetime = datetime(2026, 1, 1, tzinfo=UTC),
    tenant: str = "acme",
    event_id: str | None = None,
    **data: Any,
) -> CloudEvent:
    body: dict[str, Any] = {
        "contractId": contract_id,
        "customerName": "Globex",
        "accountOwnerEmail": "owner@acme.example",
        "value": 120000,
        **data,
    }
    if end is not None:
        body["contractEndDate"] = end
    return CloudEvent(
        id=event_id or f"{event_type}-{contract_id}-{at.isoformat()}",
        source="native",
        type=event_type,  # type: ignore[arg-type]
        time=at,
        tenantid=tenant,
        data=body,
    )


class Scheduler:
    """The learning and firing handlers over in-memory stores, on a hand clock."""

    def __init__(self, zones: dict[str, str] | None = None) -> None:
        self.clock = HandClock(datetime(2026, 1, 1, 12, tzinfo=UTC))
        self.contracts = MemoryContracts()
        self.zones = FixedZones(zones or {})
        self.publisher = RecordingPublisher()

    def on(self, day: date, hour: int = 12, zone: str = "UTC") -> None:
        self.clock.at(day, hour, ZoneInfo(zone))

    async def learn(self, *events: CloudEvent) -> None:
        await learn_events(
            events,
            contracts=self.contracts,
            revenue=MemoryRevenue(),
            zones=self.zones,
            now=self.clock(),
            marks=MARKS,
            revenue_types=(),
        )

    async def scan(self) -> list[CloudEvent]:
        await fire_due_contracts(
            self.contracts, self.publisher, self.zones, now=self.clock(), marks=MARKS, limit=100
        )
        return self.publisher.take()

    async def every_day(self, first: date, last: date) -> dict[date, list[CloudEvent]]:
        """Scan three times a day from ``first`` to ``last``; the events of each day."""
        fired: dict[date, list[CloudEvent]] = {}
        day = first
        while day <= last:
            for hour in (0, 9, 23):
                self.on(day, hour)
                if events := await self.scan():
                    fired.setdefault(day, []).extend(events)
            day += timedelta(days=1)
        return fired


def days_before(days: int, end: date = END) -> date:
    return end - timedelta(days=days)


async def test_every_threshold_fires_once_on_its_day_then_the_expiry() -> None:
    scheduler = Scheduler()
    scheduler.on(days_before(120))
    await scheduler.learn(contract_event())

    fired = await scheduler.every_day(days_before(120), END + timedelta(days=5))

    assert {day: [e.type for e in events] for day, events in fired.items()} == {
        days_before(90): ["contract.expiring"],
        days_before(60): ["contract.expiring"],
        days_before(30): ["contract.expiring"],
        days_before(7): ["contract.expiring"],
        days_before(1): ["contract.expiring"],
        END + timedelta(days=1): ["contract.expired"],
    }
    for threshold in (90, 60, 30, 7, 1):
        [event] = fired[days_before(threshold)]
        assert event.data["daysUntilExpiry"] == threshold
        assert event.data["daysRemaining"] == threshold
        assert event.data["late"] is False
        assert event.id == contract_event_id("acme", "ctr-1", f"expiring:{threshold}", END)
        assert event.time == datetime.combine(days_before(threshold), datetime.min.time(), UTC)
        assert (event.subject, event.source, event.tenantid) == ("ctr-1", "scheduler", "acme")
    [expired] = fired[END + timedelta(days=1)]
    assert expired.data["dueDate"] == "2027-07-01"
    assert "daysUntilExpiry" not in expired.data
    assert scheduler.contracts.rows["acme", "ctr-1"].status == "expired"


async def test_the_events_carry_the_contract_fields_the_seed_templates_use() -> None:
    scheduler = Scheduler()
    scheduler.on(days_before(90))
    await scheduler.learn(contract_event(productName="DataPipe", customerEmail="cs@globex.example"))
    [event] = await scheduler.scan()
    assert event.data == {
        "contractId": "ctr-1",
        "customerName": "Globex",
        "customerEmail": "cs@globex.example",
        "accountOwnerEmail": "owner@acme.example",
        "productName": "DataPipe",
        "value": 120000,
        "contractEndDate": "2027-06-30",
        "daysUntilExpiry": 90,
        "daysRemaining": 90,
        "dueDate": "2027-04-01",
        "late": False,
        "timezone": "UTC",
    }
    renewal_reminder = WorkflowDefinition.model_validate_json(RENEWAL_REMINDER)
    assert renewal_reminder.conditions is not None
    assert evaluate(renewal_reminder.conditions, event.data)
    sixty = {**event.data, "daysUntilExpiry": 60}
    assert not evaluate(renewal_reminder.conditions, sixty)


async def test_a_contract_learned_with_exactly_90_days_left_fires_at_the_next_scan() -> None:
    scheduler = Scheduler()
    scheduler.on(days_before(90), hour=15)
    await scheduler.learn(contract_event())
    [event] = await scheduler.scan()
    assert (event.type, event.data["daysUntilExpiry"], event.data["late"]) == (
        "contract.expiring",
        90,
        False,
    )
    assert await scheduler.scan() == []


async def test_thresholds_already_passed_when_the_contract_is_learned_never_fire() -> None:
    scheduler = Scheduler()
    scheduler.on(days_before(45))
    await scheduler.learn(contract_event())
    fired = await scheduler.every_day(days_before(45), days_before(29))
    assert [(day, e.data["daysUntilExpiry"]) for day, es in fired.items() for e in es] == [
        (days_before(30), 30)
    ]


@pytest.mark.parametrize(
    ("days_left", "armed"),
    [(120, 90), (90, 90), (89, 60), (31, 30), (1, 1), (0, EXPIRED), (-1, EXPIRED), (-2, None)],
)
def test_arming_picks_the_first_mark_from_today_on(days_left: int, armed: int | None) -> None:
    today = date(2026, 5, 1)
    assert arm(today + timedelta(days=days_left), today, MARKS) == armed


async def test_repeated_events_do_not_rearm_fired_thresholds() -> None:
    scheduler = Scheduler()
    created = contract_event()
    scheduler.on(days_before(90))
    await scheduler.learn(created)
    assert len(await scheduler.scan()) == 1
    await scheduler.learn(created, contract_event(at=datetime(2026, 2, 1, tzinfo=UTC)))
    assert await scheduler.scan() == []


async def test_a_renewal_that_moves_the_end_date_rearms_the_thresholds() -> None:
    scheduler = Scheduler()
    scheduler.on(days_before(95))
    await scheduler.learn(contract_event())
    scheduler.on(days_before(60))
    [sixty] = await scheduler.scan()
    assert sixty.data["daysUntilExpiry"] == 60

    new_end = END + timedelta(days=365)
    scheduler.on(days_before(50))
    renewed_at = datetime.combine(days_before(50), datetime.min.time(), UTC)
    await scheduler.learn(
        contract_event("contract.renewed", end=new_end.isoformat(), at=renewed_at)
    )
    fired = await scheduler.every_day(days_before(50), new_end + timedelta(days=1))

    assert [(day, e.type) for day, es in fired.items() for e in es] == [
        (days_before(90, new_end), "contract.expiring"),
        (days_before(60, new_end), "contract.expiring"),
        (days_before(30, new_end), "contract.expiring"),
        (days_before(7, new_end), "contract.expiring"),
        (days_before(1, new_end), "contract.expiring"),
        (new_end + timedelta(days=1), "contract.expired"),
    ]
    ninety = fired[days_before(90, new_end)][0]
    assert ninety.data["contractEndDate"] == new_end.isoformat()
    assert ninety.id != contract_event_id("acme", "ctr-1", "expiring:90", END)


async def test_a_cancellation_disarms_and_a_later_renewal_rearms() -> None:
    scheduler = Scheduler()
    scheduler.on(days_before(100))
    await scheduler.learn(contract_event())
    cancelled_at = datetime.combine(days_before(95), datetime.min.time(), UTC)
    await scheduler.learn(contract_event("contract.cancelled", end=None, at=cancelled_at))
    assert await scheduler.every_day(days_before(100), END + timedelta(days=3)) == {}
    assert scheduler.contracts.rows["acme", "ctr-1"].status == "cancelled"

    scheduler.on(days_before(10))
    renewed_at = datetime.combine(days_before(10), datetime.min.time(), UTC)
    await scheduler.learn(contract_event("contract.renewed", at=renewed_at))
    fired = await scheduler.every_day(days_before(10), END + timedelta(days=1))
    assert [e.data.get("daysUntilExpiry") for es in fired.values() for e in es] == [7, 1, None]


async def test_an_older_event_arriving_late_changes_nothing() -> None:
    scheduler = Scheduler()
    scheduler.on(days_before(100))
    await scheduler.learn(
        contract_event("contract.cancelled", end=None, at=datetime(2026, 3, 1, tzinfo=UTC)),
        contract_event(at=datetime(2026, 2, 1, tzinfo=UTC)),
    )
    assert scheduler.contracts.rows["acme", "ctr-1"].status == "cancelled"
    assert await scheduler.every_day(days_before(100), days_before(85)) == {}


async def test_after_downtime_only_the_latest_passed_threshold_fires_late() -> None:
    scheduler = Scheduler()
    scheduler.on(days_before(95))
    await scheduler.learn(contract_event())
    assert await scheduler.scan() == []

    scheduler.on(days_before(50))  # down from 95 days left to 50: the 90 and 60 marks passed
    [late] = await scheduler.scan()
    assert late.data["daysUntilExpiry"] == 60
    assert late.data["daysRemaining"] == 50
    assert late.data["late"] is True
    assert late.data["dueDate"] == days_before(60).isoformat()
    assert late.id == contract_event_id("acme", "ctr-1", "expiring:60", END)
    assert await scheduler.scan() == []

    fired = await scheduler.every_day(days_before(50), days_before(29))
    assert [(d, e.data["late"]) for d, es in fired.items() for e in es] == [
        (days_before(30), False)
    ]


async def test_downtime_across_the_end_date_yields_only_the_expiry() -> None:
    scheduler = Scheduler()
    scheduler.on(days_before(3))
    await scheduler.learn(contract_event())
    scheduler.on(END + timedelta(days=4))
    [expired] = await scheduler.scan()
    assert (expired.type, expired.data["late"]) == ("contract.expired", True)
    assert await scheduler.scan() == []


@pytest.mark.parametrize(
    ("zone", "utc_hour_of_local_midnight", "utc_day_offset"),
    [("Asia/Tokyo", 15, -1), ("America/Los_Angeles", 7, 0), ("UTC", 0, 0)],
)
async def test_days_are_counted_in_the_tenants_time_zone(
    zone: str, utc_hour_of_local_midnight: int, utc_day_offset: int
) -> None:
    scheduler = Scheduler({"acme": zone})
    due_day = days_before(90)
    scheduler.on(days_before(100), zone=zone)
    await scheduler.learn(contract_event())
    local_midnight = datetime.combine(due_day, datetime.min.time(), ZoneInfo(zone))

    scheduler.clock.now = local_midnight - timedelta(minutes=1)
    assert await scheduler.scan() == []
    scheduler.clock.now = local_midnight
    [event] = await scheduler.scan()

    assert event.time == local_midnight
    utc_midnight = datetime.combine(
        due_day + timedelta(days=utc_day_offset), datetime.min.time(), UTC
    )
    assert event.time == utc_midnight + timedelta(hours=utc_hour_of_local_midnight)
    assert event.data["timezone"] == zone


async def test_the_dst_day_does_not_shift_the_count_of_days() -> None:
    end = date(2026, 4, 30)  # the 60-day mark is 1 March, the 30-day mark 31 March (after DST)
    scheduler = Scheduler({"acme": "Europe/Paris"})
    scheduler.on(date(2026, 3, 1) - timedelta(days=5), zone="Europe/Paris")
    await scheduler.learn(contract_event(end=end.isoformat()))
    fired: list[tuple[datetime, int]] = []
    day = date(2026, 2, 20)
    while day <= date(2026, 4, 2):
        for hour in (0, 12):
            scheduler.on(day, hour, "Europe/Paris")
            fired += [(e.time, e.data["daysUntilExpiry"]) for e in await scheduler.scan()]
        day += timedelta(days=1)
    paris = ZoneInfo("Europe/Paris")
    assert fired == [
        (datetime(2026, 3, 1, tzinfo=paris), 60),
        (datetime(2026, 3, 31, tzinfo=paris), 30),
    ]
    # Local midnight is 23:00 UTC before the change and 22:00 UTC after it.
    assert [instant.astimezone(UTC) for instant, _ in fired] == [
        datetime(2026, 2, 28, 23, tzinfo=UTC),
        datetime(2026, 3, 30, 22, tzinfo=UTC),
    ]


@pytest.mark.parametrize(
    ("end", "reason"),
    [
        (None, "data.contractEndDate: missing"),
        ("next year", "not a date"),
        (20270630, "not a date"),
        ("2027-02-30", "not a date"),
        ("3027-06-30", "absurd"),
        ("1900-06-30", "absurd"),
    ],
)
@pytest.mark.parametrize("event_type", ["contract.created", "contract.renewed"])
async def test_an_unreadable_end_date_is_rejected_with_the_reason(
    event_type: str, end: object, reason: str
) -> None:
    scheduler = Scheduler()
    event = contract_event(event_type, end=end)
    await scheduler.learn(event)
    assert scheduler.contracts.rows == {}
    rejection = scheduler.contracts.rejections["acme", event.id]
    assert reason in rejection.reason
    assert rejection.contract_id == "ctr-1"


def test_end_dates_are_read_as_written() -> None:
    for written in ("2027-06-30", "2027-06-30T00:00:00Z", "2027-06-30T23:30:00-08:00"):
        observed = observe(contract_event(end=written))
        assert isinstance(observed, ContractObservation)
        assert observed.end_date == END


def test_what_is_learned_from_which_event() -> None:
    def learned(event: CloudEvent) -> tuple[str | None, date | None] | str | None:
        observed = observe(event)
        if isinstance(observed, ContractRejection):
            return observed.reason
        return None if observed is None else (observed.status, observed.end_date)

    assert learned(contract_event("contract.created")) == ("active", END)
    assert learned(contract_event("contract.renewed")) == ("active", END)
    assert learned(contract_event("contract.cancelled", end=None)) == ("cancelled", None)
    assert learned(contract_event("contract.cancelled", end="garbage")) == ("cancelled", None)
    assert learned(contract_event("contract.expired", end=None)) == ("expired", None)
    # Another event that carries an end date updates it and keeps the status.
    assert learned(contract_event("private_offer.accepted")) == (None, END)
    assert learned(contract_event("private_offer.accepted", end=None)) is None
    assert learned(contract_event("customer.updated", end="soon")) == (
        "data.contractEndDate: not a date: 'soon' is not an ISO 8601 date such as 2027-03-31"
    )
    # Derived and own events are not learned from.
    assert learned(contract_event("contract.expiring")) is None
    own = contract_event().model_copy(update={"source": "scheduler"})
    assert learned(own) is None
    no_id = contract_event().model_copy(update={"data": {"contractEndDate": "2027-06-30"}})
    assert learned(no_id) == "no contract id: data.contractId (or subject) is missing"
    by_subject = no_id.model_copy(update={"subject": "ctr-9"})
    observed = observe(by_subject)
    assert isinstance(observed, ContractObservation)
    assert observed.contract_id == "ctr-9"


def test_only_plain_seed_variables_are_kept() -> None:
    observed = observe(
        contract_event(productName="DataPipe", nested={"x": 1}, notes="x", vendor=["aws"])
    )
    assert isinstance(observed, ContractObservation)
    assert set(observed.fields) == {
        "contractId",
        "contractEndDate",
        "customerName",
        "accountOwnerEmail",
        "value",
        "productName",
    }
