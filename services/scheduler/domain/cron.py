"""Cron date math, what a changelog record means for a schedule, and the event a slot fires. Pure.

Time rules, in one place:

- A cron expression is read in the workflow's IANA zone; cronsim handles DST like Debian cron: a
  job at a wall-clock time that does not exist (the spring-forward gap) runs when the gap ends, a
  job at a wall-clock time that happens twice (the fall-back overlap) runs once, the first time;
  jobs on a minute or hour interval (``*/15 * * * *``) keep their real spacing across the change.
- The next slot is always strictly after the given instant, compared in UTC.
- A slot is *missed* when it is fired more than the misfire grace (a setting) after its time: the
  scheduler was down, or far behind. Missed slots follow the schedule's ``catchUp``: ``once``
  fires the first slot it missed, late (``data.late`` true), alone, and the next slot is the
  first one after *now*; ``skip`` fires nothing and moves to the first slot after now. Firing
  the *stored* slot — not the latest one missed — is what keeps the event id the same when a
  second replica or a restart fires that row again.
- The event names the workflow version the scheduler knew at the slot (``data.workflowVersion``);
  the scheduler fires a slot only once it has read the changelog up to the slot's time, so that
  version is never older than the one current at the slot (see ``ChangelogReader``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

from services.scheduler.domain.clock import iso_instant
from shared.contracts import CloudEvent, WorkflowChange
from shared.workflows.model import CatchUp

SOURCE = "scheduler"
"""The ``source`` of every event the scheduler emits (and of none it should learn from)."""
CRON_TRIGGER = "schedule.cron"

_CRON_EVENT_NAMESPACE = uuid.UUID("3c1b8a52-9f0e-4d7a-8e61-5b2f0c9d7a14")


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A five-field cron expression read in an IANA time zone, and its catch-up policy."""

    cron: str
    timezone: str
    catch_up: CatchUp = "once"


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
    """Firing ``schedule``'s due slot: the event to publish (None when a missed slot is skipped)
    and when the schedule fires next."""

    schedule: CronSchedule
    event: CloudEvent | None
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
        schedule = workflow.schedule
        spec = CronSpec(schedule.cron, schedule.timezone, schedule.catch_up)
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


def cron_event(schedule: CronSchedule, *, late: bool = False) -> CloudEvent:
    """The ``schedule.cron`` event of ``schedule``'s due slot; the matcher runs only the workflow
    named in ``subject``, at ``data.workflowVersion`` or newer."""
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
            "workflowVersion": schedule.version,
            "scheduledFor": iso_instant(scheduled_for),
            "cron": schedule.spec.cron,
            "timezone": schedule.spec.timezone,
            "late": late,
        },
    )


def fire(schedule: CronSchedule, *, now: datetime, misfire_grace: timedelta) -> CronFiring:
    """Fire the due slot once and move to the first slot after ``now``.

    A slot fired more than ``misfire_grace`` late is missed: with ``catchUp: skip`` it yields no
    event, with ``once`` one event marked late.
    """
    lateness = max(now - schedule.next_fire_at, timedelta(0))
    missed = lateness > misfire_grace
    skipped = missed and schedule.spec.catch_up == "skip"
    return CronFiring(
        schedule=schedule,
        event=None if skipped else cron_event(schedule, late=missed),
        next_fire_at=next_fire_after(schedule.spec, now),
        lateness=lateness,
    )
