"""Delivering ``webhook`` actions: signed (Standard Webhooks), SSRF-guarded, one attempt at a time."""

from __future__ import annotations

import contextlib
import socket
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from standardwebhooks import Webhook

from services.executor.domain import (
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
    """Performs ``webhook`` actions through one HTTP client session, one attempt per call.

    Every attempt of a step carries the same ``webhook-id`` (``{execution_id}:{step_index}``: the
    receiver's idempotency key) and a fresh timestamp and signature; retrying is the engine's
    business (``handlers``). Redirects are not followed: a redirect could lead anywhere, past the
    destination checks.
    """

    def __init__(self, settings: WebhookSettings) -> None:
        self._signer = Webhook(settings.signing_secret.get_secret_value())
        self._allow_private_networks = settings.allow_private_networks
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
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
        """One delivery attempt of step ``step_index`` of ``request``; a failed delivery is an
        outcome (``transient`` when it may succeed later), not an exception."""
        if not isinstance(action, WebhookAction):
            raise TypeError(f"not a webhook action: {action.type!r}")
        url = str(action.url)
        message_id = webhook_message_id(request.execution_id, step_index)
        summary = {"method": action.method, "url": loggable_url(url), "webhookId": message_id}
        destination = f"http:{urlsplit(url).hostname or ''}"
        refusal = destination_refusal(url, allow_private_networks=self._allow_private_networks)
        if refusal is not None:
            return StepOutcome.failed("destination_refused", refusal, attempts=0, request=summary)
        try:
            status = await self._send(action, url, message_id, webhook_payload(request))
        except ReceiverAnswered as answer:
            return StepOutcome.failed(
                "webhook_rejected",
                str(answer),
                attempts=1,
                request=summary,
                response_status=answer.status,
                transient=answer.transient,
                retry_after=answer.retry_after,
                destination=destination,
            )
        except DestinationRefused as error:
            return StepOutcome.failed(
                "destination_refused", str(error), attempts=1, request=summary
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            return StepOutcome.failed(
                "delivery_failed",
                str(error) or type(error).__name__,
                attempts=1,
                request=summary,
                transient=is_transient(error),
                destination=destination,
            )
        return StepOutcome(
            status="succeeded",
            attempts=1,
            request=summary,
            response_status=status,
            destination=destination,
        )

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
