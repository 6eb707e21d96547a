"""Delivering ``webhook`` actions: signed (Standard Webhooks), SSRF-guarded, retried while transient."""

from __future__ import annotations

import contextlib
import socket
from datetime import UTC, datetime

import aiohttp
import stamina
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook

from services.executor.domain import (
    RetryPolicy,
    StepOutcome,
    address_refusal,
    classify_response,
    destination_refusal,
    loggable_url,
    retry_after_seconds,
    signature_headers,
    webhook_headers,
    webhook_message_id,
    webhook_payload,
)
from services.executor.settings import WebhookSettings
from shared.contracts import ExecutionRequest, WebhookAction
from shared.contracts.workflows import Action

_EXCERPT_BYTES = 300


class DestinationRefused(Exception):
    """The destination may not be contacted: it is not a public address."""


class ReceiverAnswered(Exception):
    """The receiver answered with a status other than 2xx; ``transient`` if it may change."""

    def __init__(self, status: int, excerpt: str, *, transient: bool, retry_after: float | None):
        detail = f": {excerpt}" if excerpt else ""
        super().__init__(f"HTTP {status}{detail}")
        self.status = status
        self.transient = transient
        self.retry_after = retry_after


class PublicAddressResolver(AbstractResolver):
    """Resolves through ``inner`` and refuses a name if any address it resolves to is not public.

    The check runs where the connection is made, on the very addresses it will use, so a name
    that resolves to a public address when first seen and to a private one later (DNS rebinding)
    is still refused. IP literals never reach a resolver: ``destination_refusal`` checks them.
    """

    def __init__(self, inner: AbstractResolver) -> None:
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for result in results:
            refusal = address_refusal(result["host"])
            if refusal is not None:
                raise DestinationRefused(f"{host} resolves to {refusal}")
        return results

    async def close(self) -> None:
        await self._inner.close()


def is_transient(error: BaseException) -> bool:
    """Whether a failed delivery attempt may succeed if tried again."""
    if isinstance(error, ReceiverAnswered):
        return error.transient
    if isinstance(error, aiohttp.ClientSSLError):
        return False
    return isinstance(error, aiohttp.ClientConnectionError | TimeoutError)


class WebhookSender:
    """Performs ``webhook`` actions through one HTTP client session.

    Each attempt carries the same ``webhook-id`` (``{execution_id}:{step_index}``: the receiver's
    idempotency key) and a fresh timestamp and signature. Redirects are not followed: a redirect
    could lead anywhere, past the destination checks.
    """

    def __init__(self, settings: WebhookSettings, retry: RetryPolicy) -> None:
        self._signer = Webhook(settings.signing_secret.get_secret_value())
        self._allow_private_networks = settings.allow_private_networks
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
        self._retry = retry
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        resolver = (
            None
            if self._allow_private_networks
            else PublicAddressResolver(aiohttp.DefaultResolver())
        )
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=resolver),
            timeout=self._timeout,
            # One session serves every tenant: cookies set by one receiver must not follow
            # another tenant's webhook to the same host.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        """Close the session and its connections. Idempotent."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def perform(
        self, request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        """Deliver step ``step_index`` of ``request``; a failed delivery is an outcome, not an
        exception."""
        if not isinstance(action, WebhookAction):
            raise TypeError(f"not a webhook action: {action.type!r}")
        url = str(action.url)
        message_id = webhook_message_id(request.execution_id, step_index)
        summary = {"method": action.method, "url": loggable_url(url), "webhookId": message_id}
        refusal = destination_refusal(url, allow_private_networks=self._allow_private_networks)
        if refusal is not None:
            return StepOutcome.failed("destination_refused", refusal, attempts=0, request=summary)
        payload = webhook_payload(request)
        attempts = 0
        try:
            async for attempt in stamina.retry_context(
                on=self._backoff,
                attempts=self._retry.attempts,
                timeout=self._retry.timeout_seconds,
                wait_initial=self._retry.wait_initial_seconds,
                wait_max=self._retry.wait_max_seconds,
                wait_jitter=self._retry.wait_initial_seconds,
            ):
                with attempt:
                    attempts = attempt.num
                    status = await self._send(action, url, message_id, payload)
        except ReceiverAnswered as answer:
            code = "retries_exhausted" if answer.transient else "webhook_rejected"
            return StepOutcome.failed(
                code,
                str(answer),
                attempts=attempts,
                request=summary,
                response_status=answer.status,
            )
        except DestinationRefused as error:
            return StepOutcome.failed(
                "destination_refused", str(error), attempts=attempts, request=summary
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            code = "retries_exhausted" if is_transient(error) else "delivery_failed"
            reason = str(error) or type(error).__name__
            return StepOutcome.failed(code, reason, attempts=attempts, request=summary)
        return StepOutcome(
            status="succeeded", attempts=attempts, request=summary, response_status=status
        )

    def _backoff(self, error: Exception) -> bool | float:
        """stamina's retry hook: retry transient failures, after ``Retry-After`` when given."""
        if not is_transient(error):
            return False
        if isinstance(error, ReceiverAnswered) and error.retry_after is not None:
            return min(error.retry_after, self._retry.wait_max_seconds)
        return True

    async def _send(self, action: WebhookAction, url: str, message_id: str, payload: str) -> int:
        if self._session is None:
            raise RuntimeError("webhook sent before the sender started or after it closed")
        signed = signature_headers(self._signer, message_id, payload, datetime.now(UTC))
        async with self._session.request(
            action.method,
            url,
            data=payload.encode(),
            headers=webhook_headers(action.headers, signed),
            allow_redirects=False,
        ) as response:
            verdict = classify_response(response.status)
            if verdict == "success":
                return response.status
            excerpt = ""
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                raw = await response.content.read(_EXCERPT_BYTES)
                excerpt = raw.decode("utf-8", errors="replace").strip()
            raise ReceiverAnswered(
                response.status,
                excerpt,
                transient=verdict == "transient",
                retry_after=retry_after_seconds(
                    response.headers.get("Retry-After"), datetime.now(UTC)
                ),
            )
