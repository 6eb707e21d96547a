"""Contracts as the scheduler learns them, and the ``contract.expiring`` / ``contract.expired``
events their end dates produce. Pure.

Rules, in one place:

- **Learning.** ``contract.created`` and ``contract.renewed`` make a contract active with the end
  date in ``data.contractEndDate``; ``contract.cancelled`` and ``contract.expired`` end it
  (an end date is not needed for those, and one that cannot be read is ignored). Any other event
  whose ``data`` carries a ``contractEndDate`` updates the contract's end date and fields and
  keeps its status (a new contract is active). The contract id is ``data.contractId``, else the
  event's ``subject``. The newest event wins (by event time, then id), so repeated and
  out-of-order events are harmless. An event that needs an end date and has none that can be
  read (missing, not an ISO 8601 date, more than 100 years from the event) is rejected with
  the reason. Events the scheduler emitted itself are never learned from.
- **End date.** The date as written: ``2027-03-31`` and ``2027-03-31T00:00:00Z`` are both
  31 March. The end date is the contract's last day; it has expired from the next day on.
- **Marks.** Each threshold (days before the end date, a setting) is a mark, and so is the
  expiry (the day after the end date, ``EXPIRED``). A mark is due at the start of its day, in
  the tenant's time zone. Each mark fires once per (contract, mark, end date): the contract keeps
  the next mark it has not fired.
- **Arming.** When a contract is learned, or its end date changes, or it becomes active again,
  its next mark is the first one whose day is today or later: a contract learned with exactly
  90 days left fires its 90-day mark at the next scan; marks already passed never fire.
  A cancelled or expired contract has no next mark.
- **Firing.** At a scan, of the marks that are due and not fired, only the latest fires —
  late (``data.late``, with the ``dueDate`` it had) if its day has passed; the earlier ones
  are dropped, so downtime never yields a burst of stale reminders. ``daysUntilExpiry`` is the
  threshold (seed 000's ``daysUntilExpiry = 90`` matches the 90-day mark even when late);
  ``daysRemaining`` is what is actually left.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Literal

from services.scheduler.domain.clock import iso_date, start_of_day, zone
from services.scheduler.domain.cron import SOURCE
from shared.contracts import CloudEvent

ContractStatus = Literal["active", "cancelled", "expired"]

EXPIRED = -1
"""The mark of the expiry: ``daysUntilExpiry`` -1, the day after the end date."""

STATUS_OF: Mapping[str, ContractStatus] = {
    "contract.created": "active",
    "contract.renewed": "active",
    "contract.cancelled": "cancelled",
    "contract.expired": "expired",
}
"""The event types that set a contract's status."""

CONTRACT_FIELDS: tuple[str, ...] = (
    "contractId",
    "contractStartDate",
    "contractEndDate",
    "customerName",
    "customerEmail",
    "customerId",
    "awsAccountId",
    "azureTenantId",
    "accountOwnerName",
    "accountOwnerEmail",
    "offerName",
    "offerId",
    "productName",
    "marketplace",
    "vendor",
    "value",
    "currency",
    "duration",
)
"""The seed 000 variables a contract keeps from its events and puts in the events it yields."""

MAX_FIELD_LENGTH = 1000
MAX_CONTRACT_ID_LENGTH = 256
ABSURD_YEARS = 100

_CONTRACT_EVENT_NAMESPACE = uuid.UUID("9d0c4f3e-2b71-4c8a-a5e6-7f31d2b8c904")


@dataclass(frozen=True, slots=True)
class ContractObservation:
    """What one event says about a contract. ``status`` None keeps the stored status (a new
    contract is active); ``end_date`` None keeps the stored end date."""

    tenant_id: str
    contract_id: str
    event_id: str
    event_type: str
    event_time: datetime
    status: ContractStatus | None
    end_date: date | None
    fields: dict[str, Any]

    @property
    def value(self) -> int | float | None:
        value = self.fields.get("value")
        return value if _is_number(value) else None


@dataclass(frozen=True, slots=True)
class ContractRejection:
    """A contract event skipped because it cannot be used, and why."""

    tenant_id: str
    event_id: str
    event_type: str
    contract_id: str | None
    reason: str
    value: str | None


@dataclass(frozen=True, slots=True)
class DueContract:
    """A stored active contract whose next mark's day has come."""

    tenant_id: str
    contract_id: str
    end_date: date
    next_days: int
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ContractFiring:
    """What a scan does with a due contract: the event to publish (None when no mark is due after
    all), the next mark (None: none left), and whether the contract has now expired."""

    contract: DueContract
    event: CloudEvent | None
    next_days: int | None
    expired: bool
    late: bool


def marks_of(thresholds: Iterable[int]) -> tuple[int, ...]:
    """The thresholds, largest first, then the expiry."""
    return (*sorted({t for t in thresholds if t >= 0}, reverse=True), EXPIRED)


def due_date(end_date: date, mark: int) -> date:
    """The day ``mark`` is reached: ``mark`` days before ``end_date``."""
    return end_date - timedelta(days=mark)


def arm(end_date: date, today: date, marks: Iterable[int]) -> int | None:
    """The first mark whose day is ``today`` or later; None if every mark has passed."""
    days_left = (end_date - today).days
    ahead = [mark for mark in marks if mark <= days_left]
    return max(ahead) if ahead else None


def observe(event: CloudEvent) -> ContractObservation | ContractRejection | None:
    """What ``event`` says about a contract; None when it says nothing about one."""
    if event.source == SOURCE or event.type == "contract.expiring":
        return None
    status = STATUS_OF.get(event.type)
    data = event.data
    if status is None and "contractEndDate" not in data:
        return None

    def rejected(reason: str, contract_id: str | None, value: object = None) -> ContractRejection:
        shown = None if value is None else str(value)[:200]
        return ContractRejection(event.tenantid, event.id, event.type, contract_id, reason, shown)

    contract_id = data.get("contractId", event.subject)
    if not isinstance(contract_id, str) or not contract_id.strip():
        return rejected("no contract id: data.contractId (or subject) is missing", None)
    if len(contract_id) > MAX_CONTRACT_ID_LENGTH:
        return rejected(f"contract id longer than {MAX_CONTRACT_ID_LENGTH}", None)
    raw_end = data.get("contractEndDate")
    end_date: date | None = None
    try:
        end_date = parse_end_date(raw_end, reference=event.time)
    except ValueError as error:
        if status in (None, "active"):
            return rejected(f"data.contractEndDate: {error}", contract_id, raw_end)
    return ContractObservation(
        tenant_id=event.tenantid,
        contract_id=contract_id,
        event_id=event.id,
        event_type=event.type,
        event_time=event.time,
        status=status,
        end_date=end_date,
        fields=contract_fields(data),
    )


def parse_end_date(value: object, *, reference: datetime) -> date:
    """The calendar date ``value`` writes (an ISO 8601 date or date-time); raises ``ValueError``
    saying why it is not usable."""
    if value is None:
        raise ValueError("missing")
    if not isinstance(value, str) or len(value) > 64:
        raise ValueError("not a date: expected an ISO 8601 date such as 2027-03-31")
    try:
        parsed = date.fromisoformat(value) if len(value) <= 10 else None
    except ValueError:
        parsed = None
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(value).date()
        except ValueError:
            raise ValueError(
                f"not a date: {value[:40]!r} is not an ISO 8601 date such as 2027-03-31"
            ) from None
    if abs(parsed.year - reference.year) > ABSURD_YEARS:
        raise ValueError(f"absurd: {parsed.isoformat()} is more than {ABSURD_YEARS} years away")
    return parsed


def contract_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """The seed variables in ``data`` a contract keeps: plain values only, bounded in length."""
    kept: dict[str, Any] = {}
    for name in CONTRACT_FIELDS:
        value = data.get(name)
        short_text = isinstance(value, str) and len(value) <= MAX_FIELD_LENGTH
        if short_text or isinstance(value, bool) or _is_number(value):
            kept[name] = value
    return kept


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def contract_event_id(tenant_id: str, contract_id: str, what: str, end_date: date) -> str:
    """``contract:{id}:{what}:{end_date}`` as an id: the same for the same mark of the same end
    date, whichever replica fires it and however often."""
    name = f"{tenant_id}\x1fcontract:{contract_id}:{what}:{end_date.isoformat()}"
    return f"ctr_{uuid.uuid5(_CONTRACT_EVENT_NAMESPACE, name).hex}"


def fire_contract(
    contract: DueContract, *, today: date, marks: Iterable[int], timezone: str
) -> ContractFiring:
    """Fire the latest due mark of ``contract`` on ``today`` (its tenant's local day)."""
    days_left = (contract.end_date - today).days
    remaining = sorted((m for m in marks if m <= contract.next_days), reverse=True)
    passed = [mark for mark in remaining if mark >= days_left]
    if not passed:
        return ContractFiring(contract, None, max(remaining, default=None), False, False)
    mark = min(passed)
    after = [m for m in remaining if m < mark]
    late = mark > days_left
    event = _mark_event(contract, mark, days_left=days_left, late=late, timezone=timezone)
    expired = mark == EXPIRED
    return ContractFiring(
        contract, event, None if expired else max(after, default=None), expired, late
    )


def _mark_event(
    contract: DueContract, mark: int, *, days_left: int, late: bool, timezone: str
) -> CloudEvent:
    due = due_date(contract.end_date, mark)
    data: dict[str, Any] = {
        **contract.fields,
        "contractId": contract.contract_id,
        "contractEndDate": iso_date(contract.end_date),
        "dueDate": iso_date(due),
        "late": late,
        "timezone": timezone,
    }
    event_type: Literal["contract.expiring", "contract.expired"]
    if mark == EXPIRED:
        what = "expired"
        event_type = "contract.expired"
    else:
        what = f"expiring:{mark}"
        event_type = "contract.expiring"
        data |= {"daysUntilExpiry": mark, "daysRemaining": days_left}
    return CloudEvent(
        id=contract_event_id(contract.tenant_id, contract.contract_id, what, contract.end_date),
        source=SOURCE,
        type=event_type,
        time=start_of_day(due, zone(timezone)),
        tenantid=contract.tenant_id,
        subject=contract.contract_id,
        data=data,
    )
