"""Every HTTP call an action makes: one SSRF-guarded session, no redirects, capped answers.

Webhooks, ``call_api``, Teams, Slack, Salesforce and HubSpot all go through ``OutboundHttp``, so
each of them gets the same protection: the URL is checked before connecting
(``shared.outbound.url_refusal``), every address a host name resolves to is checked where the
connection is made (``PublicAddressResolver``), redirects are never followed (a redirect could
lead anywhere, past those checks), each attempt is bounded by one timeout, no more than
``response_max_bytes`` of an answer is ever read, and no cookie set by one destination follows
another tenant's call. ``attempt`` turns what happened into a ``StepOutcome``; what an answer
means is the performer's business (its ``Interpret``), what a failure to get one means is here.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from multidict import CIMultiDict

from services.executor.domain import (
    StepOutcome,
    classify_response,
    decode_json,
    response_excerpt,
    retry_after_seconds,
)
from services.executor.settings import WebhookSettings
from shared.outbound import address_refusal, url_refusal

IDEMPOTENCY_HEADER = "Idempotency-Key"


class DestinationRefused(Exception):
    """The destination may not be contacted: it is not a public address."""


class PublicAddressResolver(AbstractResolver):
    """Resolves through ``inner`` and refuses a name if any address it resolves to is not public.

    The check runs where the connection is made, on the very addresses it will use, so a name
    that resolves to a public address when first seen and to a private one later (DNS rebinding)
    is still refused. IP literals never reach a resolver: ``url_refusal`` checks them.
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


class StaticHostsResolver(AbstractResolver):
    """Answers the names in ``hosts`` with their fixed address (``WEBHOOK_HOSTS``, as
    ``/etc/hosts`` would), any other name through ``inner``. The guard wraps it like DNS."""

    def __init__(self, inner: AbstractResolver, hosts: Mapping[str, str]) -> None:
        self._inner = inner
        self._hosts = {name.lower().removesuffix("."): address for name, address in hosts.items()}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = self._hosts.get(host.lower().removesuffix("."))
        if address is None:
            return await self._inner.resolve(host, port, family)
        found = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [
            ResolveResult(hostname=host, host=address, port=port, family=found, proto=0, flags=0)
        ]

    async def close(self) -> None:
        await self._inner.close()


def is_transient(error: BaseException) -> bool:
    """Whether an attempt that got no answer may succeed if tried again."""
    if isinstance(error, aiohttp.ClientSSLError):
        return False
    return isinstance(error, aiohttp.ClientConnectionError | TimeoutError)


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What a destination answered: status, headers, and at most the capped size of its body
    (``truncated`` when there was more)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body as JSON, or None when it is not JSON (or was cut short)."""
        return None if self.truncated else decode_json(self.body)

    def excerpt(self) -> str:
        """The start of the body for a step log or an error message."""
        return response_excerpt(self.text, truncated=self.truncated)

    def retry_after(self) -> float | None:
        return retry_after_seconds(self.headers.get("Retry-After"), datetime.now(UTC))


Interpret = Callable[[HttpAnswer], StepOutcome]
"""What an answer means for the step: a performer's reading of its destination's protocol."""


@dataclass(frozen=True, slots=True)
class HttpCall:
    """One HTTP request an action makes.

    ``destination`` is the key a rate-limit answer pauses (``slack``, ``http:<host>``);
    ``summary`` is what the step log shows of the request (never credentials); every attempt
    of a step carries the same ``idempotency_key`` (execution id + step index).
    """

    method: str
    url: str
    destination: str
    summary: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None
    idempotency_key: str | None = None


def http_outcome(
    answer: HttpAnswer, *, code: str, result: Mapping[str, Any] | None = None
) -> StepOutcome:
    """The plain HTTP reading: 2xx succeeded (with ``result``); 408, 429 and 5xx failed
    transiently (with the ``Retry-After`` asked for); anything else failed for good, as
    ``code``, the message quoting the start of the body."""
    verdict = classify_response(answer.status)
    if verdict == "success":
        return StepOutcome(status="succeeded", attempts=1, result=result or {})
    excerpt = answer.excerpt()
    return StepOutcome.failed(
        code,
        f"HTTP {answer.status}: {excerpt}" if excerpt else f"HTTP {answer.status}",
        attempts=1,
        transient=verdict == "transient",
        retry_after=answer.retry_after(),
    )


def answer_failure(answer: HttpAnswer, code: str, message: str, *, transient: bool) -> StepOutcome:
    """A failed outcome for ``answer`` as a provider explained it: transient if the provider
    says so or the status is (408, 429, 5xx), with the ``Retry-After`` asked for."""
    return StepOutcome.failed(
        code,
        message,
        attempts=1,
        transient=transient or classify_response(answer.status) == "transient",
        retry_after=answer.retry_after(),
    )


class OutboundHttp:
    """The executor's one HTTP client session, shared by every HTTP performer; one attempt per
    ``attempt`` call (retrying is the engine's business)."""

    def __init__(
        self, settings: WebhookSettings, *, resolver: AbstractResolver | None = None
    ) -> None:
        """``resolver`` stands in for the system's DNS (tests); the guard wraps it either way."""
        self._resolver = resolver
        self._hosts = {name: str(address) for name, address in settings.hosts.items()}
        self._allow_private_networks = settings.allow_private_networks
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
        self._max_bytes = settings.response_max_bytes
        self._session: aiohttp.ClientSession | None = None

    @property
    def allow_private_networks(self) -> bool:
        return self._allow_private_networks

    async def start(self) -> None:
        inner: AbstractResolver = self._resolver or aiohttp.DefaultResolver()
        if self._hosts:
            inner = StaticHostsResolver(inner, self._hosts)
        resolver = inner if self._allow_private_networks else PublicAddressResolver(inner)
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=resolver),
            timeout=self._timeout,
            # One session serves every tenant: cookies set by one destination must not follow
            # another tenant's call to the same host.
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def close(self) -> None:
        """Close the session and its connections. Idempotent."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def attempt(self, call: HttpCall, interpret: Interpret) -> StepOutcome:
        """Make ``call`` once and return its outcome, with the request summary, destination and
        response status filled in. Never raises for what a destination or the network does."""
        refusal = url_refusal(call.url, allow_private_networks=self._allow_private_networks)
        if refusal is not None:
            return StepOutcome.failed(
                "destination_refused", refusal, attempts=0, request=call.summary
            )
        try:
            answer = await self._send(call)
        except DestinationRefused as error:
            return StepOutcome.failed(
                "destination_refused", str(error), attempts=1, request=call.summary
            )
        except (aiohttp.ClientError, TimeoutError) as error:
            return StepOutcome.failed(
                "delivery_failed",
                str(error) or type(error).__name__,
                attempts=1,
                request=call.summary,
                transient=is_transient(error),
                destination=call.destination,
            )
        outcome = interpret(answer)
        return replace(
            outcome,
            attempts=1,
            request=outcome.request or call.summary,
            response_status=outcome.response_status or answer.status,
            destination=outcome.destination or call.destination,
        )

    async def _send(self, call: HttpCall) -> HttpAnswer:
        if self._session is None:
            raise RuntimeError("HTTP call made before the client started or after it closed")
        headers: CIMultiDict[str] = CIMultiDict(call.headers)
        if call.idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = call.idempotency_key
        async with self._session.request(
            call.method, call.url, data=call.body, headers=headers, allow_redirects=False
        ) as response:
            body, truncated = await self._read_capped(response)
            return HttpAnswer(
                status=response.status,
                headers=CIMultiDict(response.headers),
                body=body,
                truncated=truncated,
            )

    async def _read_capped(self, response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
        """At most ``response_max_bytes`` of the body; what is beyond is never read."""
        chunks: list[bytes] = []
        size = 0
        with contextlib.suppress(aiohttp.ClientPayloadError):
            while size <= self._max_bytes:
                chunk = await response.content.read(self._max_bytes + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        body = b"".join(chunks)
        return body[: self._max_bytes], size > self._max_bytes
