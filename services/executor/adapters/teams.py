"""Performing ``teams`` actions: a Microsoft Teams incoming-webhook POST of an Adaptive Card.

The card is the ``message`` + Adaptive Card attachment shape, which both the classic incoming
webhooks (Microsoft 365 connectors) and the Workflows app's "When a Teams webhook request is
received" accept. Classic webhooks answer ``1`` on success, and sometimes HTTP 200 with a text
saying the delivery failed ("… Microsoft Teams endpoint returned HTTP error 429 …"): that text
is a failure, transient when the status it names is.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from services.executor.adapters.outbound import HttpAnswer, HttpCall, OutboundHttp, http_outcome
from services.executor.domain import (
    StepOutcome,
    classify_response,
    loggable_origin,
    not_configured,
    response_excerpt,
    step_key,
)
from services.executor.settings import TeamsSettings
from shared.contracts import ExecutionRequest
from shared.workflows import render_action
from shared.workflows.actions import Action, TeamsAction

_FAILED_DELIVERY = re.compile(r"returned HTTP error (\d{3})")
ADAPTIVE_CARD: Final = "application/vnd.microsoft.card.adaptive"


def teams_card(title: str | None, text: str) -> dict[str, Any]:
    """The webhook body: one Adaptive Card with the title (if any) and the message."""
    body: list[dict[str, Any]] = []
    if title:
        body.append(
            {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True}
        )
    body.append({"type": "TextBlock", "text": text, "wrap": True})
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": ADAPTIVE_CARD,
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": body,
                },
            }
        ],
    }


def teams_outcome(answer: HttpAnswer) -> StepOutcome:
    """What a Teams webhook's answer means."""
    failed = _FAILED_DELIVERY.search(answer.text) if 200 <= answer.status < 300 else None
    if failed is None:
        return http_outcome(answer, code="teams_error")
    status = int(failed.group(1))
    return StepOutcome.failed(
        "teams_error",
        f"Teams did not deliver the message: {answer.excerpt()}",
        attempts=1,
        transient=classify_response(status) == "transient",
        retry_after=answer.retry_after(),
    )


class TeamsPoster:
    """Posts ``teams`` actions to their webhook (the action's ``url``, else ``TEAMS_WEBHOOK_URL``)."""

    def __init__(self, settings: TeamsSettings, http: OutboundHttp) -> None:
        self._default_url = settings.webhook_url
        self._http = http

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        if not isinstance(action, TeamsAction):
            raise TypeError(f"not a teams action: {action.type!r}")
        rendered = render_action(action, request.event.data, datetime.now(UTC))
        title = rendered.fields.get("title")
        text = str(rendered.fields["message"])
        if action.url is not None:
            url = str(action.url)
        elif self._default_url is not None:
            url = self._default_url.get_secret_value()
        else:
            return not_configured("the action has no 'url' and TEAMS_WEBHOOK_URL is not set")
        parts = urlsplit(url)
        # A webhook URL's path is its credential: the log shows where it went, not the path.
        summary: dict[str, Any] = {
            "webhook": loggable_origin(url),
            "title": title,
            "text": response_excerpt(text),
        }
        if rendered.missing:
            summary["missingVariables"] = rendered.missing
        call = HttpCall(
            method="POST",
            url=url,
            destination=f"http:{parts.hostname or ''}",
            summary=summary,
            headers={"Content-Type": "application/json"},
            body=json.dumps(teams_card(str(title) if title else None, text)).encode(),
            idempotency_key=step_key(request.execution_id, step_index),
        )
        return await self._http.attempt(call, teams_outcome)
