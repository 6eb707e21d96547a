"""Performing ``hubspot_create`` and ``hubspot_update``: HubSpot CRM v3 objects.

A create POSTs ``{HUBSPOT_API_URL}/crm/v3/objects/{type}`` with ``{"properties": …}`` (201
with the object and its ``id``), an update PATCHes ``…/{type}/{id}`` (200); a failure is
``{"status": "error", "message", "correlationId", "category", …}``, ``RATE_LIMITS`` (429)
being transient. A property value that is one placeholder keeps its type. The object's id is
kept in the step log.

The objects API takes no idempotency key: the engine records each step before it moves on, so
only a crash between HubSpot's answer and that record can repeat a create.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Final
from urllib.parse import quote

from services.executor.adapters.outbound import (
    HttpAnswer,
    HttpCall,
    OutboundHttp,
    answer_failure,
)
from services.executor.domain import (
    StepOutcome,
    crm_step,
    invalid_record_id,
    not_configured,
    step_key,
)
from services.executor.settings import HubSpotSettings
from shared.contracts import ExecutionRequest
from shared.workflows.actions import Action, HubSpotCreateAction, HubSpotUpdateAction

RECORD_ID: Final = re.compile(r"[0-9A-Za-z_-]{1,100}")
TRANSIENT_CATEGORIES: Final = frozenset({"RATE_LIMITS"})


def hubspot_outcome(answer: HttpAnswer, *, object_type: str) -> StepOutcome:
    """What HubSpot's answer to a create or an update means."""
    body = answer.json()
    if 200 <= answer.status < 300:
        if isinstance(body, dict) and body.get("id"):
            return StepOutcome(
                status="succeeded",
                attempts=1,
                result={"object": object_type, "id": str(body["id"])},
            )
        return answer_failure(
            answer,
            "hubspot_error",
            f"HubSpot answered {answer.status} without an object id: {answer.excerpt()}",
            transient=False,
        )
    category = body.get("category") if isinstance(body, dict) else None
    if isinstance(body, dict) and body.get("message"):
        message = f"{category}: {body['message']}" if category else str(body["message"])
        if body.get("correlationId"):
            message += f" (correlationId {body['correlationId']})"
    else:
        message = f"HTTP {answer.status}: {answer.excerpt()}"
    return answer_failure(
        answer,
        "hubspot_error",
        f"HubSpot refused the {object_type}: {message}",
        transient=category in TRANSIENT_CATEGORIES,
    )


class HubSpotClient:
    """Performs ``hubspot_create`` and ``hubspot_update``, one attempt per call."""

    def __init__(self, settings: HubSpotSettings, http: OutboundHttp) -> None:
        self._base = f"{settings.api_url.rstrip('/')}/crm/v3/objects"
        self._token = settings.access_token
        self._http = http

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        if not isinstance(action, HubSpotCreateAction | HubSpotUpdateAction):
            raise TypeError(f"not a HubSpot action: {action.type!r}")
        mapping, record_id, summary = crm_step(action, request.event.data, datetime.now(UTC))
        if self._token is None:
            return not_configured("HubSpot is not configured: set HUBSPOT_ACCESS_TOKEN", summary)
        if record_id is not None and RECORD_ID.fullmatch(record_id) is None:
            return invalid_record_id(record_id, summary)
        path = f"/{quote(record_id, safe='')}" if record_id is not None else ""
        call = HttpCall(
            method="POST" if record_id is None else "PATCH",
            url=f"{self._base}/{action.object_type}{path}",
            destination="hubspot",
            summary=summary,
            headers={
                "Authorization": f"Bearer {self._token.get_secret_value()}",
                "Content-Type": "application/json",
            },
            body=json.dumps({"properties": mapping}, ensure_ascii=False).encode(),
            idempotency_key=step_key(request.execution_id, step_index),
        )
        return await self._http.attempt(
            call, lambda answer: hubspot_outcome(answer, object_type=action.object_type)
        )
