"""The config API's routes (SPEC §4): bearer-key auth, JSON in and out, one error shape."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from services.config_api import handlers
from services.config_api.domain import InvalidInput
from shared.observability import json_error, read_json
from shared.tenancy import Principal

Authenticate = Callable[[str], Awaitable[Principal | None]]
PRINCIPAL = web.RequestKey("principal", Principal)


def _principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def add_routes(
    app: web.Application,
    *,
    repository: handlers.WorkflowRepository,
    authenticate: Authenticate,
    page_size_max: int,
) -> None:
    @web.middleware
    async def auth(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if not request.path.startswith("/api/"):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        principal = (
            await authenticate(token.strip())
            if scheme.lower() == "bearer" and token.strip()
            else None
        )
        if principal is None:
            return json_error(
                401, "unauthorized", "a valid 'Authorization: Bearer <API key>' is required"
            )
        if request.method not in ("GET", "HEAD", "OPTIONS") and not principal.can_write:
            return json_error(403, "forbidden", "this API key is read-only")
        request[PRINCIPAL] = principal
        try:
            return await handler(request)
        except InvalidInput as invalid:
            return json_error(422, "invalid_input", invalid.message, invalid.details)

    async def create(request: web.Request) -> web.Response:
        body = await read_json(request)
        record = await handlers.create_workflow(repository, _principal(request), body)
        return web.json_response(
            record.to_api(), status=201, headers={"Location": f"/api/workflows/{record.id}"}
        )

    async def get(request: web.Request) -> web.Response:
        record = await handlers.get_workflow(
            repository, _principal(request), request.match_info["workflow_id"]
        )
        if record is None:
            return json_error(404, "not_found", "no such workflow")
        return web.json_response(record.to_api())

    async def list_(request: web.Request) -> web.Response:
        query = request.query
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= page_size_max:
            raise InvalidInput(
                "invalid limit",
                [{"path": "query.limit", "message": f"an integer from 1 to {page_size_max}"}],
            )
        page = await handlers.list_workflows(
            repository,
            _principal(request),
            status=query.get("status"),
            trigger=query.get("trigger"),
            cursor=query.get("cursor"),
            limit=limit,
        )
        return web.json_response({"items": page.items, "nextCursor": page.next_cursor})

    app.middlewares.append(auth)
    app.router.add_post("/api/workflows", create)
    app.router.add_get("/api/workflows", list_)
    app.router.add_get("/api/workflows/{workflow_id}", get)
