"""What an execution is made of and the rules for running its steps. Pure: no I/O.

An execution runs its workflow's actions in order, one step per action. A step either succeeds or
fails; a failed step fails the execution. A redelivered request resumes at the first step that
has not succeeded. Outbound webhooks are signed per the Standard Webhooks spec and may only reach
public addresses unless private networks are explicitly allowed.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from standardwebhooks import Webhook

from shared.contracts import ExecutionRequest

ExecutionStatus = Literal["running", "succeeded", "failed"]
StepStatus = Literal["succeeded", "failed", "skipped"]
"""``skipped``: the action's own conditions ("only if") were not met by the event."""
ResponseClass = Literal["success", "transient", "permanent"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
SIGNATURE_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature"})
_HEADERS_WE_SET = SIGNATURE_HEADERS | {"content-type", "content-length", "host"}
_NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")


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


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and routes to, if any."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """Whether ``address`` is globally routable unicast: not loopback, private, link-local,
    shared, reserved, unspecified, multicast or site-local, also when wrapped in IPv6."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        return is_public_address(embedded)
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return False
    return address.is_global and not address.is_multicast and not address.is_reserved


def address_refusal(host: str) -> str | None:
    """Why a webhook may not connect to the IP address ``host``, or None when it may."""
    address = ipaddress.ip_address(host)
    if is_public_address(address):
        return None
    return f"{address} is not a public address"


def destination_refusal(url: str, *, allow_private_networks: bool) -> str | None:
    """Why a webhook may not be sent to ``url``, or None when it may.

    Checks what can be known before connecting: the scheme, and the host when it is an IP
    literal. A host name is checked when it is resolved, at connect time (see the adapters).
    """
    parts = urlsplit(url)
    if parts.scheme not in ALLOWED_SCHEMES:
        return f"scheme {parts.scheme!r} is not allowed; use http or https"
    host = parts.hostname
    if not host:
        return "the URL has no host"
    if allow_private_networks:
        return None
    try:
        return address_refusal(host)
    except ValueError:
        return None


def webhook_message_id(execution_id: str, step_index: int) -> str:
    """The ``webhook-id`` of a step: the same on every attempt, so receivers can deduplicate."""
    return f"{execution_id}:{step_index}"


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
