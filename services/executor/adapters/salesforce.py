"""Performing ``salesforce_create`` and ``salesforce_update``: Salesforce REST sObjects.

A create POSTs ``{SALESFORCE_INSTANCE_URL}/services/data/vXX.X/sobjects/{object}/`` (201
``{"id", "success", "errors"}``), an update PATCHes ``…/sobjects/{object}/{id}`` (204); a
failure is an array of ``{"message", "errorCode", "fields"}``. The body is the rendered
``mapping``, where a value that is one placeholder keeps its type (``"Amount": "{{value}}"``
sends the number). The record's id is kept in the step log.

The sObject API takes no idempotency key: the engine records each step before it moves on, so
only a crash between Salesforce's answer and that record can repeat a create.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

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
from services.executor.settings import SalesforceSettings
from shared.contracts import ExecutionRequest
from shared.workflows.actions import Action, SalesforceCreateAction, SalesforceUpdateAction

RECORD_ID: Final = re.compile(r"[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?")
TRANSIENT_CODES: Final = frozenset({"SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW"})
"""Salesforce error codes another attempt may get past (a locked row, a busy server)."""


def _described(error: Mapping[str, object]) -> str:
    text = f"{error.get('errorCode', 'ERROR')}: {error.get('message', '')}"
    fields = error.get("fields")
    if isinstance(fields, list) and fields:
        text += f" (fields: {', '.join(map(str, fields))})"
    return text


def salesforce_outcome(answer: HttpAnswer, *, sobject: str, record_id: str | None) -> StepOutcome:
    """What Salesforce's answer to a create (``record_id`` None) or an update means."""
    body = answer.json()
    if 200 <= answer.status < 300:
        if record_id is not None:
            return StepOutcome(
                status="succeeded", attempts=1, result={"object": sobject, "id": record_id}
            )
        if isinstance(body, dict) and body.get("success") is True and body.get("id"):
            return StepOutcome(
                status="succeeded", attempts=1, result={"object": sobject, "id": str(body["id"])}
            )
        return answer_failure(
            answer,
            "salesforce_error",
            f"Salesforce answered {answer.status} without a record id: {answer.excerpt()}",
            transient=False,
        )
    listed = body if isinstance(body, list) else [body] if isinstance(body, dict) else []
    errors = [error for error in listed if isinstance(error, Mapping)]
    message = "; ".join(_described(error) for error in errors)
    codes = {str(error.get("errorCode")) for error in errors}
    return answer_failure(
        answer,
        "salesforce_error",
        f"Salesforce refused the {sobject}: "
        + (message or f"HTTP {answer.status}: {answer.excerpt()}"),
        transient=bool(codes & TRANSIENT_CODES),
    )


class SalesforceClient:
    """Performs ``salesforce_create`` and ``salesforce_update``, one attempt per call."""

    def __init__(self, settings: SalesforceSettings, http: OutboundHttp) -> None:
        instance = settings.instance_url.rstrip("/")
        self._base = (
            f"{instance}/services/data/{settings.api_version}/sobjects" if instance else None
        )
        self._token = settings.access_token
        self._http = http

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        if not isinstance(action, SalesforceCreateAction | SalesforceUpdateAction):
            raise TypeError(f"not a Salesforce action: {action.type!r}")
        mapping, record_id, summary = crm_step(action, request.event.data, datetime.now(UTC))
        if self._base is None or self._token is None:
            return not_configured(
                "Salesforce is not configured: set SALESFORCE_INSTANCE_URL and "
                "SALESFORCE_ACCESS_TOKEN",
                summary,
            )
        if record_id is not None and RECORD_ID.fullmatch(record_id) is None:
            return invalid_record_id(record_id, summary)
        call = HttpCall(
            method="POST" if record_id is None else "PATCH",
            url=f"{self._base}/{action.sobject}/{record_id or ''}",
            destination="salesforce",
            summary=summary,
            headers={
                "Authorization": f"Bearer {self._token.get_secret_value()}",
                "Content-Type": "application/json",
            },
            body=json.dumps(mapping, ensure_ascii=False).encode(),
            idempotency_key=step_key(request.execution_id, step_index),
        )
        return await self._http.attempt(
            call,
            lambda answer: salesforce_outcome(answer, sobject=action.sobject, record_id=record_id),
        )
