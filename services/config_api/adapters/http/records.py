"""Routes for the product's own records: ``GET /api/{tasks,activities,…}`` and ``…/{id}``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from services.config_api import handlers
from services.config_api.adapters.http.common import api, limit, not_found, principal, query
from services.config_api.domain import PRODUCT_RESOURCES, ProductResource

Route = Callable[[web.Request], Awaitable[web.Response]]


def _list(resource: ProductResource) -> Route:
    async def list_records(request: web.Request) -> web.Response:
        page = await handlers.list_product_records(
            api(request).records,
            principal(request),
            resource,
            request.query,
            cursor=query(request, "cursor"),
            limit=limit(request),
        )
        return web.json_response(page.to_api())

    return list_records


def _get(resource: ProductResource) -> Route:
    async def get_record(request: web.Request) -> web.Response:
        record = await handlers.get_product_record(
            api(request).records, principal(request), resource, request.match_info["record_id"]
        )
        return (
            web.json_response(record.to_api()) if record is not None else not_found(resource.noun)
        )

    return get_record


def add_routes(router: web.UrlDispatcher) -> None:
    for resource in PRODUCT_RESOURCES:
        router.add_get(f"/api/{resource.path}", _list(resource))
        router.add_get(f"/api/{resource.path}/{{record_id}}", _get(resource))
