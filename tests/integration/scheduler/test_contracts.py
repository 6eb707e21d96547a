"""Contracts and revenue against the real broker and PostgreSQL: the projection's SQL, marks
fired once across replicas, tenant time zones through the tenancy view, daily summaries, and a
contract posted through ingest becoming a contract.expiring event."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import aiohttp
import pytest

from services.ingest.service import IngestService
from services.ingest.settings import IngestSettings
from services.scheduler.domain import contract_event_id
from services.scheduler.domain.revenue import revenue_event_id
from services.scheduler.settings import SchedulerSettings
from shared import tenancy
from shared.contracts import CloudEvent, Topics
from shared.postgres import Pool
from shared.settings import PostgresSettings
from tests.integration.scheduler.support import (
    HandClock,
    events_on,
    eventually,
    on,
    publish,
    replicas,
)

pytestmark = pytest.mark.integration

TODAY = date(2030, 5, 6)
NOON = datetime.combine(TODAY, time(12), UTC)


def contract(
    tenant_id: str,
    contract_id: str,
    end: object,
    *,
    event_type: str = "contract.created",
    at: datetime = NOON - timedelta(days=30),
    **data: Any,
) -> CloudEvent:
    body: dict[str, Any] = {"contractId": contract_id, "customerName": f"Customer {contract_id}"}
    if end is not None:
        body["contractEndDate"] = end.isoformat() if isinstance(end, date) else end
    return CloudEvent(
        id=f"{event_type}:{contract_id}:{at.isoformat()}",
        source="native",
        type=event_type,  # type: ignore[arg-type]
        time=at,
        tenantid=tenant_id,
        data=body | data,
    )


async def send(settings: SchedulerSettings, *events: CloudEvent) -> None:
    topic = Topics(settings.kafka.topic_prefix).events_normalized
    await publish(settings.kafka, [on(topic, event, event.tenantid) for event in events])


async def rows(pool: Pool, tenant_id: str) -> dict[str, dict[str, Any]]:
    found = await pool.fetch("SELECT * FROM contracts WHERE tenant_id = $1", tenant_id)
    return {row["contract_id"]: dict(row) for row in found}


async def time_events(
    settings: SchedulerSettings, tenant_id: str, prefix: str = ""
) -> list[CloudEvent]:
    """The scheduler's events for ``tenant_id`` whose type starts with ``prefix``."""
    topic = Topics(settings.kafka.topic_prefix).events_normalized
    return [
        event
        for event in await events_on(settings.kafka, topic, tenant_id)
        if event.source == "scheduler" and event.type.startswith(prefix)
    ]


async def none_due(pool: Pool, tenant_id: str, today: date) -> bool:
    due = await pool.fetchval(
        "SELECT count(*) FROM contracts WHERE tenant_id = $1 AND next_due_date <= $2",
        tenant_id,
        today,
    )
    return bool(due == 0)


async def test_the_projection_keeps_the_newest_event_rearms_renewals_and_records_rejections(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    clock = HandClock(NOON)
    end = TODAY + timedelta(days=75)
    renewed_end = end + timedelta(days=365)
    async with replicas(settings, clock):
        await send(
            settings,
            contract(tenant_id, "c-1", end, accountOwnerEmail="owner@acme.example", value=5000),
            contract(tenant_id, "c-bad", "31/12/2030"),
            contract(tenant_id, "c-none", None),
            contract(tenant_id, "c-2", end),
            contract(tenant_id, "c-3", end),
            # c-2 renewed later; the older created event arrives again after it.
            contract(tenant_id, "c-2", renewed_end, event_type="contract.renewed", at=NOON),
            contract(tenant_id, "c-2", end, at=NOON - timedelta(days=40)),
            contract(tenant_id, "c-3", None, event_type="contract.cancelled", at=NOON),
            contract(tenant_id, "c-last", end),
        )

        async def all_learned() -> bool:
            return "c-last" in await rows(pool, tenant_id)

        await eventually(all_learned, "every event is learned")
        learned = await rows(pool, tenant_id)
        rejected = await pool.fetch(
            "SELECT contract_id, reason, value FROM contract_rejections WHERE tenant_id = $1"
            " ORDER BY contract_id",
            tenant_id,
        )

    assert set(learned) == {"c-1", "c-2", "c-3", "c-last"}
    one = learned["c-1"]
    assert (one["status"], one["end_date"], one["next_days"]) == ("active", end, 60)
    assert (one["customer_name"], one["account_owner_email"], one["value"]) == (
        "Customer c-1",
        "owner@acme.example",
        5000,
    )
    assert one["fields"]["contractEndDate"] == end.isoformat()
    assert one["next_due_date"] == end - timedelta(days=60)
    two = learned["c-2"]
    assert (two["status"], two["end_date"], two["next_days"]) == ("active", renewed_end, 90)
    three = learned["c-3"]
    assert (three["status"], three["end_date"], three["next_days"]) == ("cancelled", end, None)
    assert [(r["contract_id"], r["value"]) for r in rejected] == [
        ("c-bad", "31/12/2030"),
        ("c-none", None),
    ]
    assert "not an ISO 8601 date" in rejected[0]["reason"]
    assert rejected[1]["reason"] == "data.contractEndDate: missing"


async def test_two_replicas_fire_each_mark_once_day_after_day(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    clock = HandClock(NOON)
    # Contracts 91..60 days from their end: over 31 days each fires its 90-day mark, some their
    # 60-day mark; small batches make the replicas' claims interleave.
    contended = settings.model_copy(update={"contract_batch_size": 7})
    ends = {f"c-{n:03d}": TODAY + timedelta(days=91 - n % 32) for n in range(96)}
    days = [TODAY + timedelta(days=d) for d in range(32)]
    async with replicas(contended, clock, count=2):
        await send(settings, *(contract(tenant_id, cid, end) for cid, end in ends.items()))

        async def learned() -> bool:
            return len(await rows(pool, tenant_id)) == len(ends)

        await eventually(learned, "every contract is learned")
        for day in days:
            clock.now = datetime.combine(day, time(0, 30), UTC)

            async def fired_all(day: date = day) -> bool:
                return await none_due(pool, tenant_id, day)

            await eventually(fired_all, f"every mark due on {day} is fired")
        events = await time_events(settings, tenant_id)

    counts = Counter(event.id for event in events)
    assert max(counts.values()) == 1
    expected = {
        (cid, days_left)
        for cid, end in ends.items()
        for days_left in (90, 60, 30, 7, 1)
        if TODAY <= end - timedelta(days=days_left) <= days[-1]
    }
    assert {(e.subject, e.data["daysUntilExpiry"]) for e in events} == expected
    for event in events:
        assert event.id == contract_event_id(
            tenant_id,
            event.subject or "",
            f"expiring:{event.data['daysUntilExpiry']}",
            ends[event.subject or ""],
        )
        assert event.data["late"] is False


async def test_the_tenants_time_zone_decides_the_day(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    await tenancy.create_tenant(pool, tenant_id, timezone="Asia/Tokyo")
    end = TODAY + timedelta(days=95)
    due_day = end - timedelta(days=90)
    tokyo_midnight = datetime.combine(due_day, time(0), UTC) - timedelta(hours=9)
    clock = HandClock(NOON)
    async with replicas(settings, clock):
        await send(settings, contract(tenant_id, "c-tokyo", end))

        async def learned() -> bool:
            return "c-tokyo" in await rows(pool, tenant_id)

        await eventually(learned, "the contract is learned")
        clock.now = tokyo_midnight - timedelta(seconds=1)
        before = await time_events(settings, tenant_id, "contract.")
        clock.now = tokyo_midnight + timedelta(seconds=1)

        async def fired() -> bool:
            return await none_due(pool, tenant_id, due_day)

        await eventually(fired, "the 90-day mark fires at midnight in Tokyo")
        [event] = await time_events(settings, tenant_id, "contract.")

    assert before == []
    assert event.time == tokyo_midnight
    assert (event.data["timezone"], event.data["daysUntilExpiry"]) == ("Asia/Tokyo", 90)


async def test_one_daily_summary_per_tenant_counts_each_revenue_event_once(
    settings: SchedulerSettings, pool: Pool, tenant_id: str
) -> None:
    await tenancy.create_tenant(pool, tenant_id, timezone="Europe/Paris")
    clock = HandClock(NOON)
    sale = CloudEvent(
        id="sale-1",
        source="native",
        type="private_offer.accepted",
        time=NOON,
        tenantid=tenant_id,
        data={"value": 150000, "customerName": "Globex"},
    )
    renewal = contract(
        tenant_id,
        "c-1",
        TODAY + timedelta(days=400),
        event_type="contract.renewed",
        at=NOON,
        value=99.5,
    )
    async with replicas(settings, clock):

        async def clock_set() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM tenant_clocks WHERE tenant_id = $1", tenant_id
                )
            )

        await eventually(clock_set, "the tenant has a clock")
        await send(settings, sale, renewal, sale)

        async def counted() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT count(*) FROM revenue_events WHERE tenant_id = $1", tenant_id
                )
                == 2
            )

        await eventually(counted, "both revenue events are counted")
        # 00:05 in Paris (CEST) is 22:05 UTC the same day.
        clock.now = datetime.combine(TODAY, time(22, 5, 1), UTC)

        async def summarized() -> bool:
            return bool(
                [
                    e
                    for e in await time_events(settings, tenant_id)
                    if e.type == "revenue.daily_summary"
                ]
            )

        await eventually(summarized, "the daily summary is emitted")
        events = [
            e for e in await time_events(settings, tenant_id) if e.type == "revenue.daily_summary"
        ]

    [summary] = events
    assert summary.id == revenue_event_id(tenant_id, TODAY)
    assert summary.data["date"] == TODAY.isoformat()
    assert (summary.data["count"], summary.data["value"]) == (2, 150099.5)
    assert summary.data["byType"] == {
        "contract.renewed": {"count": 1, "value": 99.5},
        "private_offer.accepted": {"count": 1, "value": 150000},
    }


async def test_a_contract_created_through_ingest_with_90_days_left_yields_one_contract_expiring(
    settings: SchedulerSettings,
    pool: Pool,
    tenant_id: str,
    postgres_settings: PostgresSettings,
) -> None:
    """On the real clock, through the real ingest service: the event is posted with 90 days
    left, and one contract.expiring follows within a scan interval."""
    await tenancy.create_tenant(pool, tenant_id)
    key = await tenancy.create_api_key(pool, tenant_id)
    end = datetime.now(UTC).date() + timedelta(days=90)
    ingest = IngestService(
        IngestSettings(host="127.0.0.1", port=0, kafka=settings.kafka, postgres=postgres_settings)
    )
    body = {
        "type": "contract.created",
        "data": {
            "contractId": "agr-90",
            "customerName": "Globex",
            "accountOwnerEmail": "owner@acme.example",
            "contractEndDate": end.isoformat(),
            "value": 120000,
        },
    }
    async with (
        ingest,
        replicas(settings, lambda: datetime.now(UTC)),
        aiohttp.ClientSession() as http,
    ):
        url = f"http://127.0.0.1:{ingest.http.bound_port}/v1/events"
        async with http.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as reply:
            assert reply.status == 202, await reply.text()

        async def advanced() -> bool:
            row = (await rows(pool, tenant_id)).get("agr-90")
            return row is not None and row["next_days"] == 60

        await eventually(advanced, "the 90-day mark is fired")
        events = await time_events(settings, tenant_id)

    [event] = events
    assert (event.type, event.subject) == ("contract.expiring", "agr-90")
    assert event.id == contract_event_id(tenant_id, "agr-90", "expiring:90", end)
    assert event.data["daysUntilExpiry"] == 90
    assert event.data["late"] is False
    assert (event.data["customerName"], event.data["accountOwnerEmail"]) == (
        "Globex",
        "owner@acme.example",
    )
