"""Cron date math, what a changelog record means for a schedule, and the event a slot fires. Pure.

Time rules, in one place:

- A cron expression is read in the workflow's IANA zone; cronsim handles DST like Debian cron: a
  job at a wall-clock time that does not exist (the spring-forward gap) runs when the gap ends, a
  job at a wall-clock time that happens twice (the fall-back overlap) runs once, the first time;
  jobs on a minute or hour interval (``*/15 * * * *``) keep their real spacing across the change.
- The next slot is always strictly after the given instant, compared in UTC.
- Missed slots fire once: when the scheduler was down (or behind) across several slots, the first
  slot it missed fires late, alone, and the next slot is the first one after *now*. Firing the
  *stored* slot — not the latest one missed — is what keeps the event id the same when a second
  replica or a restart fires that row again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

from shared.contracts import CloudEvent, WorkflowChange

SOURCE = "scheduler"
CRON_TRIGGER = "schedule.cron"

Clock = Callable[[], datetime]
"""Returns the current instant, timezone-aware."""

_CRON_EVENT_NAMESPACE = uuid.UUID("3c1b8a52-9f0e-4d7a-8e61-5b2f0c9d7a14")


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A five-field cron expression read in an IANA time zone."""

    cron: str
    timezone: str


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    """What one changelog record means for the scheduler: ``workflow_id`` at ``version`` fires on
    ``spec`` starting at ``next_fire_at`` — or, with ``spec`` None, fires nothing any more."""

    workflow_id: str
    tenant_id: str
    version: int
    spec: CronSpec | None
    next_fire_at: datetime | None


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A stored schedule whose slot ``next_fire_at`` is due."""

    workflow_id: str
    tenant_id: str
    version: int
    spec: CronSpec
    next_fire_at: datetime


@dataclass(frozen=True, slots=True)
class CronFiring:
    """Firing ``schedule``'s due slot: the event to publish and when the schedule fires next."""

    schedule: CronSchedule
    event: CloudEvent
    next_fire_at: datetime | None
    lateness: timedelta


def next_fire_after(spec: CronSpec, after: datetime) -> datetime | None:
    """The first slot of ``spec`` strictly after ``after``, in UTC; None if it never fires again.

    cronsim resolves an ambiguous wall-clock time to its first occurrence, so from inside the
    repeated hour it can answer with an instant already past; those answers are skipped.
    """
    after_utc = after.astimezone(UTC)
    for candidate in CronSim(spec.cron, after_utc.astimezone(ZoneInfo(spec.timezone))):
        slot = candidate.astimezone(UTC)
        if slot > after_utc:
            return slot
    return None


def schedule_record(change: WorkflowChange, *, now: datetime) -> ScheduleRecord:
    """The schedule a changelog record asks for; its first slot is the first one after ``now``.

    A deleted workflow, one that is not active, and one that is not triggered by ``schedule.cron``
    all mean the same thing here: no schedule.
    """
    workflow = change.workflow
    spec = None
    if (
        workflow is not None
        and workflow.active
        and workflow.trigger == CRON_TRIGGER
        and workflow.schedule is not None
    ):
        spec = CronSpec(workflow.schedule.cron, workflow.schedule.timezone)
    return ScheduleRecord(
        workflow_id=change.workflow_id,
        tenant_id=change.tenant_id,
        version=change.version,
        spec=spec,
        next_fire_at=next_fire_after(spec, now) if spec is not None else None,
    )


def latest_per_workflow(records: Iterable[ScheduleRecord]) -> list[ScheduleRecord]:
    """The highest version of each workflow among ``records``, in whatever order they came.

    Equal versions are the same record seen twice; the first one is kept.
    """
    latest: dict[str, ScheduleRecord] = {}
    for record in records:
        kept = latest.get(record.workflow_id)
        if kept is None or record.version > kept.version:
            latest[record.workflow_id] = record
    return list(latest.values())


def cron_event_id(workflow_id: str, scheduled_for: datetime) -> str:
    """The same id for the same workflow and slot, whichever replica fires it and how often."""
    name = f"{workflow_id}\x1f{scheduled_for.astimezone(UTC).isoformat()}"
    return f"cron_{uuid.uuid5(_CRON_EVENT_NAMESPACE, name).hex}"


def cron_event(schedule: CronSchedule) -> CloudEvent:
    """The ``schedule.cron`` event of ``schedule``'s due slot; the matcher runs only the workflow
    named in ``subject``."""
    scheduled_for = schedule.next_fire_at.astimezone(UTC)
    return CloudEvent(
        id=cron_event_id(schedule.workflow_id, scheduled_for),
        source=SOURCE,
        type=CRON_TRIGGER,
        time=scheduled_for,
        tenantid=schedule.tenant_id,
        subject=schedule.workflow_id,
        data={
            "workflowId": schedule.workflow_id,
            "scheduledFor": scheduled_for.isoformat().replace("+00:00", "Z"),
            "cron": schedule.spec.cron,
            "timezone": schedule.spec.timezone,
        },
    )


def fire(schedule: CronSchedule, *, now: datetime) -> CronFiring:
    """Fire the due slot once and move to the first slot after ``now`` (missed slots fire once)."""
    return CronFiring(
        schedule=schedule,
        event=cron_event(schedule),
        next_fire_at=next_fire_after(schedule.spec, now),
        lateness=max(now - schedule.next_fire_at, timedelta(0)),
    )
