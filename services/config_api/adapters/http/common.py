"""What every route shares: the repositories, the caller, bodies and parameters, the middleware.

The middleware authenticates ``/api/`` requests with a bearer API key (except the OpenAPI
document), refuses writes by read-only keys, and maps domain errors onto the one error shape:
``InvalidInput`` → 422, ``Conflict`` → 409, ``NotPublished`` (another service's view is not
there yet) → 503 with ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

from services.config_api import handlers
from services.config_api.domain import (
    Conflict,
    InvalidInput,
    NotPublished,
    SavePolicy,
    check_json,
    check_text,
    parse_limit,
)
from services.config_api.handlers.hooks import WorkflowHookRepository
from services.config_api.handlers.runs import RunRepository
from shared.observability import ApiError, bearer_token, json_error, read_json
from shared.tenancy import Principal

Authenticate = Callable[[str], Awaitable[Principal | None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

OPENAPI_PATH = "/api/openapi.json"
PUBLIC_PATHS = frozenset({OPENAPI_PATH})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Api:
    """The repositories the routes run handlers over, and the API's limits."""

    workflows: handlers.WorkflowRepository
    executions: handlers.ExecutionReader
    templates: handlers.EmailTemplateRepository
    secrets: handlers.InboundSecretRepository
    audit: handlers.AuditReader
    records: handlers.ProductRecordReader
    policy: SavePolicy
    tenants: handlers.TenantRepository
    page_size_max: int
    gallery: handlers.TemplateGallery
    hooks: WorkflowHookRepository
    hooks_base_url: str
    """Where ingest is reached from outside: the scheme and host of every hook URL."""
    runs: RunRepository
    run_data_max_bytes: int = 64 * 1024


API = web.AppKey("config_api", Api)
PRINCIPAL = web.RequestKey("principal", Principal)


def api(request: web.Request) -> Api:
    return request.app[API]


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def not_found(what: str) -> web.Response:
    return json_error(404, "not_found", f"no such {what}")


async def read_body(request: web.Request) -> object:
    """The JSON body, or 400 ``invalid_json``; 422 if it holds what cannot be stored."""
    try:
        body = await read_json(request)
    except (RecursionError, ValueError) as error:
        # What read_json lets through: nesting deeper than the parser recurses, and integers
        # longer than Python converts (both still malformed input, not server errors).
        raise ApiError(400, "invalid_json", f"the body is not usable JSON: {error}") from None
    check_json(body)
    return body


def query(request: web.Request, name: str) -> str | None:
    return request.query.get(name)


def limit(request: web.Request) -> int:
    return parse_limit(query(request, "limit"), maximum=api(request).page_size_max)


def _check_parameters(request: web.Request) -> web.Response | None:
    """Path and query values PostgreSQL could not take (NUL, lone surrogates) end here."""
    for value in request.match_info.values():
        try:
            check_text(value, "path")
        except InvalidInput:
            return json_error(404, "not_found", "no such resource")
    for key, value in request.query.items():
        check_text(key, f"query.{key!r}")
        check_text(value, f"query.{key}")
    return None


READING_POSTS = frozenset({"/api/workflows/{workflow_id}/test"})
"""POST routes that change nothing (dry runs), open to read-only keys."""


def _reads_only(request: web.Request) -> bool:
    if request.method in READ_METHODS:
        return True
    resource = request.match_info.route.resource
    return resource is not None and resource.canonical in READING_POSTS


def middleware(authenticate: Authenticate) -> Middleware:
    @web.middleware
    async def api_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/api/") or request.path in PUBLIC_PATHS:
            return await handler(request)
        token = bearer_token(request)
        caller = await authenticate(token) if token else None
        if caller is None:
            return json_error(
                401, "unauthorized", "a valid 'Authorization: Bearer <API key>' is required"
            )
        if not _reads_only(request) and not caller.can_write:
            return json_error(403, "forbidden", "this API key is read-only")
        request[PRINCIPAL] = caller
        try:
            return _check_parameters(request) or await handler(request)
        except (InvalidInput, Conflict, NotPublished) as error:
            return _domain_error(error)

    return api_middleware


def _domain_error(error: InvalidInput | Conflict | NotPublished) -> web.Response:
    if isinstance(error, InvalidInput):
        return json_error(422, "invalid_input", error.message, error.details)
    if isinstance(error, Conflict):
        return json_error(409, error.code, error.message, error.details)
    response = json_error(503, "not_published", str(error))
    response.headers["Retry-After"] = "5"
    return response
