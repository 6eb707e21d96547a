"""Performing ``slack`` actions: Slack Web API ``chat.postMessage`` with the bot token.

Slack answers most failures with HTTP 200 and ``{"ok": false, "error": "…"}``: only ``ok: true``
is a success. ``ratelimited`` (HTTP 429 with ``Retry-After``) and Slack's own transient errors
may succeed later; every other error (``channel_not_found``, ``invalid_auth``, …) will not.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

from services.executor.adapters.outbound import HttpAnswer, HttpCall, OutboundHttp, http_outcome
from services.executor.domain import StepOutcome, not_configured, response_excerpt, step_key
from services.executor.settings import SlackSettings
from shared.contracts import ExecutionRequest
from shared.workflows import render_action
from shared.workflows.actions import Action, SlackAction

DESTINATION: Final = "slack"
TRANSIENT_ERRORS: Final = frozenset(
    {"ratelimited", "rate_limited", "internal_error", "service_unavailable", "request_timeout"}
)
"""Slack errors another attempt may get past; the rest are for good."""


def slack_outcome(answer: HttpAnswer) -> StepOutcome:
    """What Slack's answer to ``chat.postMessage`` means."""
    body = answer.json()
    if not isinstance(body, dict) or "ok" not in body:
        # Not Slack's JSON: a proxy's or a load balancer's answer, read as plain HTTP.
        outcome = http_outcome(answer, code="slack_error")
        if outcome.status == "succeeded":
            return StepOutcome.failed(
                "slack_error",
                f"Slack answered HTTP {answer.status} without its JSON: {answer.excerpt()}",
                attempts=1,
            )
        return outcome
    if body["ok"] is True:
        return StepOutcome(
            status="succeeded",
            attempts=1,
            result={"channel": body.get("channel"), "ts": body.get("ts")},
        )
    error = str(body.get("error") or "unknown_error")
    detail = ", ".join(f"{key}: {body[key]}" for key in ("needed", "provided") if key in body)
    return StepOutcome.failed(
        "slack_error",
        f"Slack refused the message: {error}" + (f" ({detail})" if detail else ""),
        attempts=1,
        transient=error in TRANSIENT_ERRORS or answer.status == 429 or answer.status >= 500,
        retry_after=answer.retry_after(),
    )


class SlackPoster:
    """Posts ``slack`` actions' messages, one attempt per call."""

    def __init__(self, settings: SlackSettings, http: OutboundHttp) -> None:
        self._url = settings.api_url.rstrip("/") + "/chat.postMessage"
        self._token = settings.bot_token
        self._http = http

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        if not isinstance(action, SlackAction):
            raise TypeError(f"not a slack action: {action.type!r}")
        rendered = render_action(action, request.event.data, datetime.now(UTC))
        channel, text = str(rendered.fields["channel"]), str(rendered.fields["message"])
        summary: dict[str, Any] = {"channel": channel, "text": response_excerpt(text)}
        if rendered.missing:
            summary["missingVariables"] = rendered.missing
        if self._token is None:
            return not_configured("Slack is not configured: set SLACK_BOT_TOKEN", summary)
        call = HttpCall(
            method="POST",
            url=self._url,
            destination=DESTINATION,
            summary=summary,
            headers={
                "Authorization": f"Bearer {self._token.get_secret_value()}",
                "Content-Type": "application/json; charset=utf-8",
            },
            body=json.dumps({"channel": channel, "text": text}).encode(),
            idempotency_key=step_key(request.execution_id, step_index),
        )
        return await self._http.attempt(call, slack_outcome)
