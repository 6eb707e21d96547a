"""Ingest's HTTP routes: ``POST /v1/events`` (API key), ``POST /v1/webhooks/{source}/{tenant}``
and ``POST /v1/hooks/{tenant}/{token}`` (a workflow's inbound hook).

Webhooks are authenticated by the source's own scheme with the tenant's inbound secret for that
source: HubSpot's request signature (app secret), otherwise the shared secret, presented as
``Authorization: Bearer <secret>`` (an EventBridge API destination with an API-key connection),
as the password of ``Authorization: Basic`` (an SNS subscription URL with credentials), or as the
``token`` query parameter (for senders that can only be given a URL: Salesforce Outbound
Messages, Azure's Partner Center webhook). An unknown tenant, an unknown source and a wrong
credential all get the same 401.

A workflow's hook is authenticated by its token alone, looked up by its digest: a wrong token,
an unknown tenant and a workflow without a hook all get the same 404, before anything about the
body is looked at. Every route answers 2xx only once the broker acknowledged what it published;
a broker that does not acknowledge is a 503.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from aiokafka.errors import KafkaError

from services.ingest import hooks, sources
from services.ingest.domain import Rejected
from services.ingest.handlers import (
    REJECTED,
    Accepted,
    EventSink,
    NotPublished,
    PublishedEvents,
    WorkflowHooks,
    accept,
    accept_hook,
)
from services.ingest.sources import hubspot, salesforce
from shared.contracts.envelope import TENANT_ID_PATTERN
from shared.observability import bearer_token, json_error
from shared.tenancy import Principal

log = logging.getLogger(__name__)

Authenticate = Callable[[str], Awaitable[Principal | None]]
InboundSecret = Callable[[str, str], Awaitable[str | None]]

CONTENT_TYPES: Final[dict[str, frozenset[str]]] = {
    "native": frozenset({"application/json"}),
    # SNS posts its JSON as text/plain.
    "aws": frozenset({"application/json", "text/plain"}),
    "azure": frozenset({"application/json"}),
    "hubspot": frozenset({"application/json"}),
    "salesforce": frozenset(
        {"application/json", "text/xml", "application/xml", "application/soap+xml"}
    ),
}
_TENANT_ID: Final = re.compile(TENANT_ID_PATTERN)
_DUMMY_SECRET: Final = secrets.token_urlsafe(32)
"""Compared against when there is no secret, so an unknown tenant costs what a wrong one does."""


def add_routes(
    app: web.Application,
    *,
    sink: EventSink,
    store: PublishedEvents,
    authenticate: Authenticate,
    inbound_secret: InboundSecret,
    max_events: int,
    public_base_url: str | None,
    workflow_hooks: WorkflowHooks,
) -> None:
    async def intake(
        request: web.Request, source: str, raw: bytes, tenant_id: str, *, status: int
    ) -> web.Response:
        """Check the content type, accept the body, answer once the broker acknowledged it."""
        refused = _content_type_error(request, source)
        if refused is not None:
            return refused
        try:
            accepted = await accept(
                sink,
                store,
                source=source,
                raw=raw,
                tenant_id=tenant_id,
                max_events=max_events,
                headers=dict(request.headers),
            )
        except Rejected as rejected:
            return _rejected(rejected)
        except (KafkaError, TimeoutError) as error:
            return _broker_unavailable(error)
        return _answer(accepted, status=status)

    async def post_events(request: web.Request) -> web.Response:
        token = bearer_token(request)
        principal = await authenticate(token) if token else None
        if principal is None:
            return json_error(
                401, "unauthorized", "a valid 'Authorization: Bearer <API key>' is required"
            )
        if not principal.can_write:
            return json_error(403, "forbidden", "this API key is read-only")
        source = request.query.get("source", "native")
        if not sources.is_source(source):
            return json_error(
                422,
                "unsupported_source",
                f"source format {source!r} is not supported",
                [{"path": "query:source", "message": f"one of {sorted(sources.ADAPTERS)}"}],
            )
        return await intake(request, source, await request.read(), principal.tenant_id, status=202)

    async def post_webhook(request: web.Request) -> web.Response:
        source = request.match_info["source"]
        tenant = request.match_info["tenant"]
        raw = await request.read()
        if source == "hubspot":
            try:
                hubspot.check_signature_headers(request.headers, now_ms=_now_ms())
            except hubspot.SignatureError as error:
                _count_rejected(source, error.reason)
                return _unauthorized(error.message)
        elif _shared_secret(request) is None:
            _count_rejected(source, "missing_credentials")
            return _unauthorized(
                "credentials are required: 'Authorization: Bearer <secret>' (or Basic, or ?token=)"
            )
        known = sources.is_source(source) and _TENANT_ID.match(tenant) is not None
        secret = await inbound_secret(tenant, source) if known else None
        if not _verified(request, source, raw, secret, public_base_url):
            _count_rejected(source if sources.is_source(source) else "unknown", "bad_credentials")
            return _unauthorized("the credentials are not valid for this tenant and source")
        return await intake(request, source, raw, tenant, status=200)

    app.router.add_post("/v1/events", post_events)
    app.router.add_post("/v1/webhooks/{source}/{tenant}", post_webhook)
    app.router.add_post(
        "/v1/hooks/{tenant}/{token}", hook_route(sink, store, workflow_hooks=workflow_hooks)
    )


def hook_route(
    sink: EventSink, store: PublishedEvents, *, workflow_hooks: WorkflowHooks
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """``POST /v1/hooks/{tenant}/{token}``: 404 unless the token is the tenant's workflow's, then
    the body (JSON object or form, within the body limit: 413) as its ``webhook.received``
    event, 202 once the broker acknowledged it."""

    async def post_hook(request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        token = request.match_info["token"]
        try:
            workflow_id = (
                await workflow_hooks.workflow_for(tenant, token)
                if _TENANT_ID.match(tenant) is not None
                else None
            )
        except NotPublished as error:
            response = json_error(503, "not_published", str(error))
            response.headers["Retry-After"] = "5"
            return response
        if workflow_id is None:
            _count_rejected(hooks.HOOK_SOURCE, "unknown_hook")
            return json_error(404, "not_found", "no such hook")
        if request.content_type not in hooks.CONTENT_TYPES:
            _count_rejected(hooks.HOOK_SOURCE, "unsupported_media_type")
            return json_error(
                415,
                "unsupported_media_type",
                f"Content-Type {request.content_type!r} is not accepted by a hook",
                [
                    {
                        "path": "header:Content-Type",
                        "message": f"one of {sorted(hooks.CONTENT_TYPES)}",
                    }
                ],
            )
        try:
            accepted = await accept_hook(
                sink,
                store,
                tenant_id=tenant,
                workflow_id=workflow_id,
                raw=await request.read(),
                content_type=request.content_type,
                headers=request.headers,
            )
        except Rejected as rejected:
            return _rejected(rejected)
        except (KafkaError, TimeoutError) as error:
            return _broker_unavailable(error)
        return _answer(accepted, status=202)

    return post_hook


def _count_rejected(source: str, reason: str) -> None:
    REJECTED.labels(source, reason).inc()


def _verified(
    request: web.Request, source: str, raw: bytes, secret: str | None, public_base_url: str | None
) -> bool:
    """Whether the request carries ``secret``'s credential (always False without a secret)."""
    expected = secret if secret is not None else _DUMMY_SECRET
    if source == "hubspot":
        try:
            hubspot.verify_signature(
                request.headers,
                method=request.method,
                uri=public_uri(request, public_base_url),
                body=raw,
                secret=expected,
                now_ms=_now_ms(),
            )
        except hubspot.SignatureError:
            return False
        return secret is not None
    presented = _shared_secret(request) or ""
    matches = hmac.compare_digest(presented.encode(), expected.encode())
    return matches and secret is not None


def public_uri(request: web.Request, public_base_url: str | None) -> str:
    """The URL the sender called: ``INGEST_PUBLIC_BASE_URL`` + path and query when ingest runs
    behind a proxy (which changes scheme and host), else as this request arrived."""
    if public_base_url:
        return public_base_url.rstrip("/") + request.raw_path
    return f"{request.scheme}://{request.host}{request.raw_path}"


def _shared_secret(request: web.Request) -> str | None:
    token = request.query.get("token")
    if token:
        return token
    bearer = bearer_token(request)
    if bearer:
        return bearer
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def _content_type_error(request: web.Request, source: str) -> web.Response | None:
    allowed = CONTENT_TYPES.get(source, frozenset())
    if request.content_type in allowed:
        return None
    return json_error(
        415,
        "unsupported_media_type",
        f"Content-Type {request.content_type!r} is not accepted for {source}",
        [{"path": "header:Content-Type", "message": f"one of {sorted(allowed)}"}],
    )


def _broker_unavailable(error: Exception) -> web.Response:
    """Nothing was acknowledged (and nothing remembered as published): the sender may retry."""
    log.warning("publish failed; answered 503", extra={"error": repr(error)})
    response = json_error(
        503, "broker_unavailable", "the event could not be handed to the broker; retry later"
    )
    response.headers["Retry-After"] = "5"
    return response


def _rejected(rejected: Rejected) -> web.Response:
    status = (
        400
        if rejected.code in {"invalid_json", "invalid_xml", "forbidden_xml", "invalid_form"}
        else 422
    )
    if rejected.code == "batch_too_large":
        status = 413
    return json_error(
        status, rejected.code, rejected.message, [p.as_dict() for p in rejected.problems]
    )


def _answer(accepted: Accepted, *, status: int) -> web.Response:
    if accepted.reply == "soap":
        return web.Response(text=salesforce.ACK, content_type="text/xml", status=200)
    return web.json_response(accepted.summary(), status=status)


def _unauthorized(message: str) -> web.Response:
    return json_error(401, "unauthorized", message)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
