"""Ingest's HTTP routes: ``POST /v1/events``, authenticated by a tenant API key."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from services.ingest.domain import Rejected
from services.ingest.handlers import EventSink, accept_http_events
from shared.observability import bearer_token, json_error, read_json
from shared.tenancy import Principal

Authenticate = Callable[[str], Awaitable[Principal | None]]


def add_routes(
    app: web.Application, *, sink: EventSink, authenticate: Authenticate, max_events: int
) -> None:
    async def post_events(request: web.Request) -> web.Response:
        token = bearer_token(request)
        principal = await authenticate(token) if token else None
        if principal is None:
            return json_error(
                401, "unauthorized", "a valid 'Authorization: Bearer <API key>' is required"
            )
        if not principal.can_write:
            return json_error(403, "forbidden", "this API key is read-only")
        body = await read_json(request)
        try:
            events = await accept_http_events(
                sink, body, tenant_id=principal.tenant_id, max_events=max_events
            )
        except Rejected as rejected:
            return json_error(
                422, rejected.code, rejected.message, [p.as_dict() for p in rejected.problems]
            )
        return web.json_response(
            {"accepted": len(events), "events": [{"id": e.id, "type": e.type} for e in events]},
            status=202,
        )

    app.router.add_post("/v1/events", post_events)
