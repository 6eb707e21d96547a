"""The HTTP server every service runs: /healthz, /readyz, /metrics, plus the service's own routes.

Errors from every route have one shape: ``{"error": {"code", "message", "details": [...]}}``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

log = logging.getLogger(__name__)

HTTP_REQUESTS_TOTAL = Counter(
    "http_requests_total", "HTTP requests by route and status.", ["method", "route", "status"]
)
HTTP_REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency by route.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

SERVICE_READY = Gauge(
    "service_ready",
    "1 when the service is ready (what /readyz answers, evaluated at each scrape), else 0.",
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_PROBES = frozenset({"/healthz", "/readyz", "/metrics"})


def json_error(
    status: int, code: str, message: str, details: Sequence[dict[str, Any]] = ()
) -> web.Response:
    """The one error body every endpoint returns."""
    body = {"error": {"code": code, "message": message, "details": list(details)}}
    return web.json_response(body, status=status)


class ApiError(Exception):
    """Raise from a route to answer with the standard error body."""

    def __init__(
        self, status: int, code: str, message: str, details: Sequence[dict[str, Any]] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def bearer_token(request: web.Request) -> str | None:
    """The token of ``Authorization: Bearer <token>``, or None when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


async def read_json(request: web.Request) -> object:
    """The request body as JSON, or ``ApiError`` 400 ``invalid_json`` saying where it broke."""
    raw = await request.read()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {error}") from None


class HttpServer:
    """An aiohttp server with the probe endpoints, metrics and JSON errors built in.

    ``is_ready`` tells whether the service has begun intake (API routes answer 503 before);
    ``check_ready`` additionally pings the dependencies and backs ``/readyz``. A route that fails
    because a dependency is unreachable answers 503 with the code ``outage_code`` gives the
    error (``database_unavailable``, …) and ``Retry-After``; a route that fails otherwise, 500.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        is_ready: Callable[[], bool],
        check_ready: Callable[[], Awaitable[bool]],
        client_max_size: int = 1024**2,
        outage_code: Callable[[BaseException], str | None] = lambda _error: None,
    ) -> None:
        self.host = host
        self.port = port
        self._is_ready = is_ready
        self._check_ready = check_ready
        self._outage_code = outage_code
        self.app = web.Application(
            middlewares=[self._observe, self._errors], client_max_size=client_max_size
        )
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/readyz", self._readyz)
        self.app.router.add_get("/metrics", self._metrics)
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=5.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else self.port
        log.info("http listening", extra={"host": self.host, "port": self.bound_port})

    async def stop(self) -> None:
        """Stop accepting connections and finish in-flight requests. Idempotent."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def _healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _readyz(self, _request: web.Request) -> web.Response:
        if await self._check_ready():
            return web.json_response({"status": "ready"})
        return web.json_response({"status": "not ready"}, status=503)

    async def _metrics(self, _request: web.Request) -> web.Response:
        # Readiness is a fact of the moment of the scrape, like /readyz's answer.
        SERVICE_READY.set(1 if await self._check_ready() else 0)
        response = web.Response(body=generate_latest())
        response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
        return response

    @web.middleware
    async def _observe(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            if route not in _PROBES:
                HTTP_REQUESTS_TOTAL.labels(request.method, route, str(status)).inc()
                HTTP_REQUEST_SECONDS.labels(request.method, route).observe(
                    time.perf_counter() - started
                )

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path not in _PROBES and not self._is_ready():
            return json_error(503, "not_ready", "the service is starting or stopping")
        try:
            return await handler(request)
        except ApiError as error:
            return json_error(error.status, error.code, error.message, error.details)
        except web.HTTPRequestEntityTooLarge as error:
            return json_error(413, "payload_too_large", error.text or "request body too large")
        except web.HTTPException as error:
            if error.status < 400:
                raise
            code = error.reason.lower().replace(" ", "_")
            return json_error(error.status, code, error.reason)
        except Exception as error:
            return self._unhandled(request, error)

    def _unhandled(self, request: web.Request, error: Exception) -> web.Response:
        """503 for an unreachable dependency (the request may be retried as it is), else 500."""
        outage = self._outage_code(error)
        if outage is None:
            log.error("unhandled error", extra={"path": request.path}, exc_info=error)
            return json_error(500, "internal_error", "internal error")
        log.warning(
            "dependency unreachable; answered 503",
            extra={"path": request.path, "code": outage, "error": repr(error)},
        )
        response = json_error(
            503, outage, "what this request needs is not reachable right now; retry later"
        )
        response.headers["Retry-After"] = "5"
        return response
