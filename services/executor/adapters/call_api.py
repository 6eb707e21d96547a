"""Performing ``call_api`` actions: any HTTP API, with the rendered headers and JSON body.

The answer is captured in the step log (its status, content type and the start of its body,
size-capped); 2xx succeeds, 408, 429 and 5xx may succeed later, the rest fail for good. Every
attempt carries ``Idempotency-Key: {execution_id}:{step_index}``, for APIs that honour one.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from services.executor.adapters.outbound import HttpAnswer, HttpCall, OutboundHttp, http_outcome
from services.executor.domain import StepOutcome, loggable_url, step_key
from shared.contracts import ExecutionRequest
from shared.workflows import render_action
from shared.workflows.actions import Action, CallApiAction

_FORBIDDEN_IN_HEADERS = ("\r", "\n", "\x00")


def api_outcome(answer: HttpAnswer) -> StepOutcome:
    """Plain HTTP semantics; a success keeps the answer's start in the step log."""
    return http_outcome(
        answer,
        code="api_rejected",
        result={
            "status": answer.status,
            "contentType": answer.headers.get("Content-Type"),
            "body": answer.excerpt(),
        },
    )


class ApiCaller:
    """Performs ``call_api`` actions, one attempt per call."""

    def __init__(self, http: OutboundHttp) -> None:
        self._http = http

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        if not isinstance(action, CallApiAction):
            raise TypeError(f"not a call_api action: {action.type!r}")
        rendered = render_action(action, request.event.data, datetime.now(UTC))
        url = str(action.url)
        headers: dict[str, str] = {
            name: str(value) for name, value in rendered.fields.get("headers", {}).items()
        }
        body = rendered.fields.get("body")
        payload = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        summary: dict[str, Any] = {
            "method": action.method,
            "url": loggable_url(url),
            # Names only: header values (and the body) are where API keys travel.
            "headers": sorted(headers),
            "bodyBytes": len(payload) if payload is not None else 0,
        }
        if rendered.missing:
            summary["missingVariables"] = rendered.missing
        unsafe = [
            name
            for name, value in headers.items()
            if any(character in value for character in _FORBIDDEN_IN_HEADERS)
        ]
        if unsafe:
            return StepOutcome.failed(
                "invalid_header",
                f"header {unsafe[0]!r} renders to a value with a line break or NUL",
                attempts=0,
                request=summary,
            )
        if payload is not None and not any(name.lower() == "content-type" for name in headers):
            headers["Content-Type"] = "application/json"
        call = HttpCall(
            method=action.method,
            url=url,
            destination=f"http:{urlsplit(url).hostname or ''}",
            summary=summary,
            headers=headers,
            body=payload,
            idempotency_key=step_key(request.execution_id, step_index),
        )
        return await self._http.attempt(call, api_outcome)
