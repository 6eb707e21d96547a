"""The config API's routes (SPEC §4): bearer-key auth, JSON in and out, one error shape.

``common`` holds the middleware and what every route shares; one module per group of routes;
``openapi`` describes them all.
"""

from __future__ import annotations

from aiohttp import web

from services.config_api.adapters.http import (
    gallery,
    hooks,
    openapi,
    records,
    runs,
    tenant_resources,
    workflows,
)
from services.config_api.adapters.http.common import API, Api, Authenticate, middleware

__all__ = ["Api", "Authenticate", "add_routes"]


def add_routes(app: web.Application, *, api: Api, authenticate: Authenticate) -> None:
    """Register every ``/api/`` route and the middleware that authenticates them."""
    app[API] = api
    app.middlewares.append(middleware(authenticate))
    workflows.add_routes(app.router)
    tenant_resources.add_routes(app.router)
    records.add_routes(app.router)
    gallery.add_routes(app.router)
    hooks.add_routes(app.router)
    runs.add_routes(app.router)
    openapi.add_routes(app.router)
