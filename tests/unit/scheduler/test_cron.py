"""Cron date math across zones and DST, the missed-slot rules (catchUp), events, changelog
versions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from services.scheduler.domain import (
    CronSchedule,
    CronSpec,
    ScheduleRecord,
    cron_event,
    cron_event_id,
    fire,
    latest_per_workflow,
    next_fire_after,
    schedule_record,
)
from shared.contracts import WorkflowChange
from shared.workflows.model import CatchUp

NEW_YORK = "America/New_York"
PARIS = "Europe/Paris"
GRACE = timedelta(seconds=60)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def upcoming(spec: CronSpec, after: datetime, count: int) -> list[datetime]:
    slots: list[datetime] = []
    for _ in range(count):
        slot = next_fire_after(spec, after)
        assert slot is not None
        slots.append(slot)
        after = slot
    return slots


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2026, 1, 5, 10, 0, 30), utc(2026, 1, 5, 10, 1)),
        (utc(2026, 1, 5, 10, 1), utc(2026, 1, 5, 10, 2)),
        (utc(2026, 1, 5, 10, 0, 59) + timedelta(microseconds=999_999), utc(2026, 1, 5, 10, 1)),
    ],
)
def test_the_next_slot_is_strictly_after(after: datetime, expected: datetime) -> None:
    assert next_fire_after(CronSpec("* * * * *", "UTC"), after) == expected


def test_slots_are_read_in_the_workflows_zone() -> None:
    weekday_nine = CronSpec("0 9 * * 1-5", "Europe/Paris")
    assert next_fire_after(weekday_nine, utc(2026, 1, 2, 12)) == utc(2026, 1, 5, 8)
    assert next_fire_after(weekday_nine, utc(2026, 7, 1, 12)) == utc(2026, 7, 2, 7)
    assert next_fire_after(CronSpec("0 9 * * *", "Asia/Kolkata"), utc(2026, 1, 1)) == utc(
        2026, 1, 1, 3, 30
    )


def test_a_time_in_the_spring_forward_gap_fires_when_the_gap_ends() -> None:
    # 2026-03-08 02:00 EST jumps to 03:00 EDT: 02:30 does not exist that day.
    slots = upcoming(CronSpec("30 2 * * *", NEW_YORK), utc(2026, 3, 7, 12), 3)
    assert slots == [utc(2026, 3, 8, 7), utc(2026, 3, 9, 6, 30), utc(2026, 3, 10, 6, 30)]


def test_a_time_in_the_fall_back_overlap_fires_once() -> None:
    # 2026-11-01 02:00 EDT falls back to 01:00 EST: 01:30 happens twice that day.
    slots = upcoming(CronSpec("30 1 * * *", NEW_YORK), utc(2026, 10, 31, 12), 3)
    assert slots == [utc(2026, 11, 1, 5, 30), utc(2026, 11, 2, 6, 30), utc(2026, 11, 3, 6, 30)]


def test_from_inside_the_repeated_hour_a_passed_first_occurrence_is_not_fired_again() -> None:
    # 06:40Z is 01:40 EST, the second pass; 01:50 EDT (05:50Z) already happened.
    assert next_fire_after(CronSpec("50 1 * * *", NEW_YORK), utc(2026, 11, 1, 6, 40)) == utc(
        2026, 11, 2, 6, 50
    )


def test_paris_spring_forward_a_time_in_the_gap_fires_when_the_gap_ends() -> None:
    # 2026-03-29 02:00 CET jumps to 03:00 CEST: 02:30 does not exist that day.
    slots = upcoming(CronSpec("30 2 * * *", PARIS), utc(2026, 3, 28, 12), 3)
    assert slots == [utc(2026, 3, 29, 1), utc(2026, 3, 30, 0, 30), utc(2026, 3, 31, 0, 30)]


def test_paris_fall_back_a_time_in_the_overlap_fires_once() -> None:
    # 2026-10-25 03:00 CEST falls back to 02:00 CET: 02:30 happens twice that day.
    slots = upcoming(CronSpec("30 2 * * *", PARIS), utc(2026, 10, 24, 12), 3)
    assert slots == [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30), utc(2026, 10, 27, 1, 30)]


@pytest.mark.parametrize(
    ("zone", "start", "changes_at"),
    [
        (NEW_YORK, utc(2026, 3, 8, 5), utc(2026, 3, 8, 7)),
        (NEW_YORK, utc(2026, 11, 1, 4), utc(2026, 11, 1, 6)),
        (PARIS, utc(2026, 3, 29, 0), utc(2026, 3, 29, 1)),
        (PARIS, utc(2026, 10, 25, 0), utc(2026, 10, 25, 1)),
    ],
    ids=["new-york-spring", "new-york-fall", "paris-spring", "paris-fall"],
)
def test_hourly_slots_are_real_hours_across_every_change(
    zone: str, start: datetime, changes_at: datetime
) -> None:
    slots = upcoming(CronSpec("0 * * * *", zone), start, 4)
    assert [b - a for a, b in pairwise(slots)] == [timedelta(hours=1)] * 3
    assert slots[0] <= changes_at <= slots[-1]


def test_an_interval_keeps_its_real_spacing_across_the_overlap() -> None:
    slots = upcoming(CronSpec("*/30 * * * *", NEW_YORK), utc(2026, 11, 1, 4, 50), 5)
    assert [b - a for a, b in pairwise(slots)] == [timedelta(minutes=30)] * 4
    assert slots[0] == utc(2026, 11, 1, 5)


def test_a_rare_slot_is_found_years_ahead() -> None:
    assert next_fire_after(CronSpec("0 0 29 2 *", "UTC"), utc(2026, 1, 1)) == utc(2028, 2, 29)


def schedule(
    next_fire_at: datetime, cron: str = "0 * * * *", catch_up: CatchUp = "once"
) -> CronSchedule:
    return CronSchedule(
        workflow_id="wf-1",
        tenant_id="acme",
        version=3,
        spec=CronSpec(cron, "Europe/Paris", catch_up),
        next_fire_at=next_fire_at,
    )


def test_missed_slots_fire_once_late_then_the_schedule_resumes_after_now() -> None:
    due = schedule(utc(2026, 1, 5, 10))
    firing = fire(due, now=utc(2026, 1, 5, 13, 20), misfire_grace=GRACE)
    assert firing.event is not None
    assert firing.event.time == utc(2026, 1, 5, 10)
    assert firing.event.data["late"] is True
    assert firing.next_fire_at == utc(2026, 1, 5, 14)
    assert firing.lateness == timedelta(hours=3, minutes=20)


def test_with_catch_up_skip_missed_slots_fire_nothing_and_the_schedule_resumes_after_now() -> None:
    firing = fire(
        schedule(utc(2026, 1, 5, 10), catch_up="skip"),
        now=utc(2026, 1, 5, 13, 20),
        misfire_grace=GRACE,
    )
    assert firing.event is None
    assert firing.next_fire_at == utc(2026, 1, 5, 14)


@pytest.mark.parametrize("catch_up", ["once", "skip"])
def test_a_slot_fired_within_the_grace_is_on_time_whatever_the_policy(catch_up: CatchUp) -> None:
    firing = fire(
        schedule(utc(2026, 1, 5, 10), catch_up=catch_up),
        now=utc(2026, 1, 5, 10, 0, 59),
        misfire_grace=GRACE,
    )
    assert firing.event is not None
    assert firing.event.data["late"] is False
    assert firing.next_fire_at == utc(2026, 1, 5, 11)


def test_the_event_names_the_workflow_and_the_slot() -> None:
    event = cron_event(schedule(utc(2026, 1, 5, 10)))
    assert (event.type, event.source, event.subject, event.tenantid) == (
        "schedule.cron",
        "scheduler",
        "wf-1",
        "acme",
    )
    assert event.data == {
        "workflowId": "wf-1",
        "workflowVersion": 3,
        "scheduledFor": "2026-01-05T10:00:00Z",
        "cron": "0 * * * *",
        "timezone": "Europe/Paris",
        "late": False,
    }


def test_the_event_id_depends_only_on_the_workflow_and_the_slot() -> None:
    slot = utc(2026, 1, 5, 10)
    same_instant_elsewhere = slot.astimezone(datetime.now().astimezone().tzinfo)
    assert cron_event_id("wf-1", slot) == cron_event_id("wf-1", same_instant_elsewhere)
    assert cron_event(schedule(slot)).id == cron_event(schedule(slot, cron="*/5 * * * *")).id
    assert cron_event_id("wf-1", slot) != cron_event_id("wf-1", slot + timedelta(hours=1))
    assert cron_event_id("wf-1", slot) != cron_event_id("wf-2", slot)


NOW = utc(2026, 1, 5, 10, 0, 30)


def change(
    version: int, workflow: dict[str, Any] | None, workflow_id: str = "wf-1"
) -> WorkflowChange:
    return WorkflowChange.model_validate(
        {
            "tenant_id": "acme",
            "workflow_id": workflow_id,
            "version": version,
            "workflow": workflow,
            "changed_at": "2026-01-05T10:00:00Z",
        }
    )


def workflow(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Daily digest",
        "trigger": "schedule.cron",
        "schedule": {"cron": "0 9 * * *", "timezone": "Europe/Paris"},
        "actions": [{"type": "webhook", "url": "https://example.com/hook"}],
        "status": "active",
    } | overrides


def test_an_active_cron_workflow_is_scheduled_from_now() -> None:
    record = schedule_record(change(2, workflow()), now=NOW)
    assert record == ScheduleRecord(
        workflow_id="wf-1",
        tenant_id="acme",
        version=2,
        spec=CronSpec("0 9 * * *", "Europe/Paris", "once"),
        next_fire_at=utc(2026, 1, 6, 8),
    )


def test_the_catch_up_policy_comes_from_the_workflow() -> None:
    skipping = workflow(schedule={"cron": "0 9 * * *", "catchUp": "skip"})
    record = schedule_record(change(2, skipping), now=NOW)
    assert record.spec == CronSpec("0 9 * * *", "UTC", "skip")


@pytest.mark.parametrize(
    "definition",
    [
        None,
        workflow(status="paused"),
        workflow(status="draft"),
        workflow(status="archived"),
        workflow(trigger="contract.expiring", schedule=None),
    ],
    ids=["deleted", "paused", "draft", "archived", "not-cron"],
)
def test_a_workflow_that_should_not_fire_has_no_schedule(definition: dict[str, Any] | None) -> None:
    record = schedule_record(change(4, definition), now=NOW)
    assert (record.version, record.spec, record.next_fire_at) == (4, None, None)


def test_the_highest_version_of_each_workflow_wins_in_any_order() -> None:
    records = [
        schedule_record(c, now=NOW)
        for c in [
            change(3, None),
            change(1, workflow()),
            change(2, workflow(status="paused")),
            change(1, workflow(), workflow_id="wf-2"),
            change(1, workflow(), workflow_id="wf-2"),
        ]
    ]
    latest = {r.workflow_id: r for r in latest_per_workflow(records)}
    assert set(latest) == {"wf-1", "wf-2"}
    assert (latest["wf-1"].version, latest["wf-1"].spec) == (3, None)
    assert latest["wf-2"].version == 1
    assert latest["wf-2"].spec is not None
