"""What an execution is made of and the rules for running its steps. Pure: no I/O.

An execution runs its workflow's actions in order, one step per action. A step either succeeds or
fails; a failed step fails the execution. A redelivered request resumes at the first step that
has not succeeded. Outbound webhooks are signed per the Standard Webhooks spec; which addresses
any outbound HTTP may reach is ``shared.outbound``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

from standardwebhooks import Webhook

from shared.contracts import CloudEvent, ExecutionRequest
from shared.workflows import render_action
from shared.workflows.actions import Action

ExecutionStatus = Literal["running", "succeeded", "failed"]
StepStatus = Literal["succeeded", "failed", "skipped"]
"""``skipped``: the action's own conditions ("only if") were not met by the event."""
ResponseClass = Literal["success", "transient", "permanent"]

SIGNATURE_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})
_HEADERS_WE_SET = SIGNATURE_HEADERS | {"content-type", "content-length", "host"}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How a transient action failure is retried: bounded by attempts and by total time."""

    attempts: int
    timeout_seconds: float
    wait_initial_seconds: float
    wait_max_seconds: float

    def wait_before(self, attempt: int, *, retry_after: float | None, jitter: float) -> float:
        """Seconds to wait before attempt ``attempt + 1``: exponential from the initial wait,
        capped at the maximum, plus ``jitter`` (0..1) of the initial wait; a destination's own
        ``Retry-After`` replaces the backoff (capped at the maximum too)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.wait_max_seconds)
        backoff: float = self.wait_initial_seconds * 2.0 ** max(attempt - 1, 0)
        return min(backoff, self.wait_max_seconds) + jitter * self.wait_initial_seconds


@dataclass(frozen=True, slots=True)
class StepError:
    """Why a step failed: a stable ``code`` and a message for people."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """What performing an action came to: one attempt as a performer reports it, or the whole
    step (``attempts`` counted) as the step log records it.

    - ``request`` summarizes what was sent, for the step log; never secrets or credentials.
    - ``result`` is what the step produced that the log keeps (a created record's id, a
      size-capped response excerpt); never secrets either.
    - ``transient``: a failure that may succeed if tried again (a timeout, a connection error,
      408, 429, 5xx, Slack's ``ratelimited``); anything else failed for good.
    - ``retry_after``: seconds the destination asked to wait (``Retry-After``, Slack's
      ``ratelimited``).
    - ``destination``: which destination was called (``slack``, ``salesforce``,
      ``http:hooks.example.com``), the key a rate-limit answer pauses for the whole tenant.
    """

    status: StepStatus
    attempts: int
    request: Mapping[str, Any] = field(default_factory=dict)
    response_status: int | None = None
    error: StepError | None = None
    result: Mapping[str, Any] = field(default_factory=dict)
    transient: bool = False
    retry_after: float | None = None
    destination: str | None = None

    @classmethod
    def skipped(cls) -> StepOutcome:
        return cls(status="skipped", attempts=0)

    @classmethod
    def failed(
        cls,
        code: str,
        message: str,
        *,
        attempts: int,
        request: Mapping[str, Any] | None = None,
        response_status: int | None = None,
        transient: bool = False,
        retry_after: float | None = None,
        destination: str | None = None,
    ) -> StepOutcome:
        return cls(
            status="failed",
            attempts=attempts,
            request=request or {},
            response_status=response_status,
            error=StepError(code, message),
            transient=transient,
            retry_after=retry_after,
            destination=destination,
        )


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One row of the step log: the outcome of action ``step_index`` of an execution."""

    tenant_id: str
    execution_id: str
    step_index: int
    action_type: str
    outcome: StepOutcome
    started_at: datetime
    finished_at: datetime


@dataclass(frozen=True, slots=True)
class ExecutionProgress:
    """Where a recorded execution stands when its request arrives (again).

    ``error`` is set once it failed; ``dead_lettered`` once its dead letter was acknowledged.
    """

    status: ExecutionStatus
    done_steps: frozenset[int] = frozenset()
    error: Mapping[str, Any] | None = None
    dead_lettered: bool = False


def resume_point(done_steps: Collection[int], action_count: int) -> int:
    """The index of the first step not yet done (succeeded or skipped); ``action_count`` when
    every step is done."""
    return next((i for i in range(action_count) if i not in done_steps), action_count)


def execution_error(record: StepRecord) -> dict[str, Any]:
    """The error an execution failed with, as stored and as dead-lettered: the failed step's."""
    outcome = record.outcome
    error = outcome.error or StepError("step_failed", "the step failed")
    return {
        "code": error.code,
        "message": error.message,
        "step": record.step_index,
        "actionType": record.action_type,
        "attempts": outcome.attempts,
        "responseStatus": outcome.response_status,
    }


def classify_response(status: int) -> ResponseClass:
    """2xx succeeded; 408, 429 and 5xx may succeed later; anything else will not (no redirects)."""
    if 200 <= status < 300:
        return "success"
    if status in (408, 429) or status >= 500:
        return "transient"
    return "permanent"


def webhook_message_id(execution_id: str, step_index: int) -> str:
    """The ``webhook-id`` of a step: the same on every attempt, so receivers can deduplicate."""
    return step_key(execution_id, step_index)


def webhook_payload(request: ExecutionRequest) -> str:
    """The JSON body of a webhook action: which execution, which workflow, the event."""
    return json.dumps(
        {
            "executionId": request.execution_id,
            "workflowId": request.workflow_id,
            "workflowVersion": request.workflow_version,
            "event": request.event.model_dump(mode="json"),
        },
        separators=(",", ":"),
    )


def signature_headers(
    signer: Webhook, message_id: str, payload: str, timestamp: datetime
) -> dict[str, str]:
    """The Standard Webhooks headers signing ``payload`` as sent at ``timestamp`` (aware)."""
    sent_at = timestamp.replace(microsecond=0)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signer.sign(msg_id=message_id, timestamp=sent_at, data=payload),
    }


def webhook_headers(action_headers: Mapping[str, str], signed: Mapping[str, str]) -> dict[str, str]:
    """The action's own headers plus ours; a user header never replaces a signature or framing
    header (names compare case-insensitively, as HTTP does)."""
    headers = {
        name: value for name, value in action_headers.items() if name.lower() not in _HEADERS_WE_SET
    }
    headers["content-type"] = "application/json"
    headers.update(signed)
    return headers


def loggable_url(url: str) -> str:
    """``url`` without credentials, query or fragment, which may carry secrets."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def loggable_origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: where a call went, when even its path is a secret."""
    parts = urlsplit(loggable_url(url))
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """The delay a ``Retry-After`` header asks for (seconds or an HTTP date), if it is valid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# --- what every action performer shares -----------------------------------------------------------

RESPONSE_EXCERPT_CHARS = 2000
"""How much of an answer (or of a text sent) a step log keeps."""

_ID_NAMESPACE = uuid.UUID("3b8f0c5e-2f6d-4b1a-9c7e-5d4a1f2e6b90")


def step_key(execution_id: str, step_index: int) -> str:
    """The idempotency key of a step: ``{execution_id}:{step_index}``, the same on every attempt
    and every redelivery (``Idempotency-Key``, ``webhook-id``, Message-ID, chained event ids)."""
    return f"{execution_id}:{step_index}"


def stable_id(prefix: str, *parts: str | int) -> str:
    """An id derived from ``parts`` alone (``task_…``): a redelivered step names the same row."""
    name = "\x1f".join(str(part) for part in parts)
    return f"{prefix}_{uuid.uuid5(_ID_NAMESPACE, name).hex}"


def response_excerpt(text: str, *, truncated: bool = False) -> str:
    """The start of ``text`` for a step log: at most ``RESPONSE_EXCERPT_CHARS``, marked when cut."""
    text = text.strip()
    if len(text) > RESPONSE_EXCERPT_CHARS or truncated:
        return text[:RESPONSE_EXCERPT_CHARS] + "…"
    return text


def decode_json(raw: bytes) -> Any:
    """``raw`` as JSON, or None when it is not JSON."""
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        return None


def not_configured(message: str, request: Mapping[str, Any] | None = None) -> StepOutcome:
    """The outcome of a step whose destination has no endpoint or credentials set."""
    return StepOutcome.failed("not_configured", message, attempts=0, request=request)


def crm_step(
    action: Action, data: Mapping[str, Any], now: datetime
) -> tuple[dict[str, Any], str | None, dict[str, Any]]:
    """A CRM action rendered: its ``mapping`` (typed), its ``recordId`` if it has one (rendered,
    stripped), and the step log's summary of both."""
    rendered = render_action(action, data, now)
    mapping: dict[str, Any] = rendered.fields["mapping"]
    record_id = str(rendered.fields["recordId"]).strip() if "recordId" in rendered.fields else None
    summary: dict[str, Any] = {"object": rendered.fields["object"], "fields": mapping}
    if record_id is not None:
        summary["recordId"] = record_id
    if rendered.missing:
        summary["missingVariables"] = rendered.missing
    return mapping, record_id, summary


def invalid_record_id(record_id: str, request: Mapping[str, Any]) -> StepOutcome:
    return StepOutcome.failed(
        "invalid_record_id",
        f"'recordId' renders to {record_id[:60]!r}, which is not a record id",
        attempts=0,
        request=request,
    )


# --- the product's own records: who is assigned, what a draft offer holds -------------------------

ROLES: Final = frozenset(
    {
        "account_owner",
        "account_manager",
        "customer_success",
        "engineering_lead",
        "sales_leadership",
        "sales_manager",
        "support",
    }
)
"""Who ``assignTo`` may name by role. ``account_owner`` is the event's ``accountOwnerEmail``
when it carries one; every other role (and ``account_owner`` without one) is a team queue,
``role:<name>``. Anything else is a user id or an e-mail address, taken as written."""


def resolve_assignee(reference: str, data: Mapping[str, Any]) -> str:
    """Who ``reference`` (an ``assignTo``, rendered) names for an event with ``data``."""
    reference = reference.strip()
    if reference == "account_owner":
        owner = data.get("accountOwnerEmail")
        if isinstance(owner, str) and owner.strip():
            return owner.strip()
    if reference in ROLES:
        return f"role:{reference}"
    return reference


@dataclass(frozen=True, slots=True)
class OfferTerms:
    """A draft offer: what it is based on, for whom, its term and price."""

    based_on: str
    source_id: str | None
    name: str
    customer_name: str | None
    product_name: str | None
    duration_months: int | None
    discount_percent: float
    base_value: float | None
    value: float | None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def offer_terms(
    based_on: str, adjustments: Mapping[str, Any], name: str | None, data: Mapping[str, Any]
) -> OfferTerms:
    """The draft offer ``create_draft_offer`` makes from the event's contract or offer.

    The source is ``contractId`` (``current_contract``) or ``offerId`` (``current_offer``); the
    term is the adjustment's ``duration`` or the event's; the price is the event's ``value``
    less the adjustment's ``discount`` (percent), to the cent.
    """
    source = data.get("contractId" if based_on == "current_contract" else "offerId")
    customer, product = _text(data.get("customerName")), _text(data.get("productName"))
    duration = adjustments.get("duration", data.get("duration"))
    discount = _number(adjustments.get("discount")) or 0.0
    base = _number(data.get("value"))
    default_name = " - ".join(part for part in ("Renewal", customer, product) if part)
    return OfferTerms(
        based_on=based_on,
        source_id=str(source) if isinstance(source, str | int) and source != "" else None,
        name=name or default_name,
        customer_name=customer,
        product_name=product,
        duration_months=duration
        if isinstance(duration, int) and not isinstance(duration, bool)
        else None,
        discount_percent=discount,
        base_value=base,
        value=round(base * (1 - discount / 100), 2) if base is not None else None,
    )


# --- chaining ---------------------------------------------------------------------------------------


def chained_event(
    request: ExecutionRequest, step_index: int, target: str, *, pass_data: bool
) -> CloudEvent:
    """The ``workflow.triggered`` event a ``trigger_workflow`` step publishes for ``target``.

    Its id is the step's key, so a redelivered step publishes the same event and the matcher
    derives the same downstream execution id; ``subject`` names the target (the matcher's
    targeted triggers); ``chaindepth`` is one more than the triggering event's.
    """
    return CloudEvent(
        id=f"chain:{step_key(request.execution_id, step_index)}",
        source=f"workflow:{request.workflow_id}",
        type="workflow.triggered",
        tenantid=request.tenant_id,
        subject=target,
        data=dict(request.event.data) if pass_data else {},
        chaindepth=chain_depth(request.event) + 1,
    )


def chain_depth(event: CloudEvent) -> int:
    """How many workflows led to ``event`` (0 for an outside event)."""
    return event.chaindepth or 0
