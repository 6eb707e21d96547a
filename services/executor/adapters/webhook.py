"""Delivering ``webhook`` actions: signed (Standard Webhooks), through the guarded HTTP client."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

from standardwebhooks import Webhook

from services.executor.adapters.outbound import HttpCall, OutboundHttp, http_outcome
from services.executor.domain import (
    StepOutcome,
    loggable_url,
    signature_headers,
    webhook_headers,
    webhook_message_id,
    webhook_payload,
)
from services.executor.settings import WebhookSettings
from shared.contracts import ExecutionRequest, WebhookAction
from shared.contracts.workflows import Action


class WebhookSender:
    """Performs ``webhook`` actions, one attempt per call.

    Every attempt of a step carries the same ``webhook-id`` (``{execution_id}:{step_index}``: the
    receiver's idempotency key) and a fresh timestamp and signature; retrying is the engine's
    business (``handlers``).
    """

    def __init__(self, settings: WebhookSettings, http: OutboundHttp) -> None:
        self._signer = Webhook(settings.signing_secret.get_secret_value())
        self._http = http

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        """One delivery attempt of step ``step_index`` of ``request``; a failed delivery is an
        outcome (``transient`` when it may succeed later), not an exception."""
        if not isinstance(action, WebhookAction):
            raise TypeError(f"not a webhook action: {action.type!r}")
        url = str(action.url)
        message_id = webhook_message_id(request.execution_id, step_index)
        payload = webhook_payload(request)
        signed = signature_headers(self._signer, message_id, payload, datetime.now(UTC))
        call = HttpCall(
            method=action.method,
            url=url,
            destination=f"http:{urlsplit(url).hostname or ''}",
            summary={"method": action.method, "url": loggable_url(url), "webhookId": message_id},
            headers=webhook_headers(action.headers, signed),
            body=payload.encode(),
        )
        return await self._http.attempt(
            call, lambda answer: http_outcome(answer, code="webhook_rejected")
        )
