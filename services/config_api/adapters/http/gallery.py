"""Routes for the templates gallery: ``/api/templates``, one template, use, publish."""

from __future__ import annotations

from aiohttp import web

from services.config_api import handlers
from services.config_api.adapters.http.common import (
    api,
    limit,
    not_found,
    principal,
    query,
    read_body,
)
from services.config_api.domain import GalleryTemplate


def _slug(request: web.Request) -> str:
    return request.match_info["slug"]


def _shown(template: GalleryTemplate, status: int = 200) -> web.Response:
    headers = {"Location": f"/api/templates/{template.slug}"} if status == 201 else None
    return web.json_response(template.to_api(), status=status, headers=headers)


async def list_(request: web.Request) -> web.Response:
    page = await handlers.list_gallery(
        api(request).gallery,
        principal(request),
        category=query(request, "category"),
        scope=query(request, "scope"),
        cursor=query(request, "cursor"),
        limit=limit(request),
    )
    return web.json_response(page.to_api())


async def get(request: web.Request) -> web.Response:
    template = await handlers.get_gallery_template(
        api(request).gallery, principal(request), _slug(request)
    )
    return _shown(template) if template is not None else not_found("template")


async def use(request: web.Request) -> web.Response:
    body = await read_body(request) if request.can_read_body else None
    record = await handlers.use_template(
        api(request).gallery, principal(request), _slug(request), body, api(request).policy
    )
    if record is None:
        return not_found("template")
    return web.json_response(
        record.to_api(),
        status=201,
        headers={"ETag": record.etag, "Location": f"/api/workflows/{record.id}"},
    )


async def publish(request: web.Request) -> web.Response:
    body = await read_body(request)
    template = await handlers.publish_template(
        api(request).gallery, api(request).workflows, principal(request), body
    )
    return _shown(template, 201)


def add_routes(router: web.UrlDispatcher) -> None:
    template = "/api/templates/{slug}"
    router.add_get("/api/templates", list_)
    router.add_post("/api/templates", publish)
    router.add_get(template, get)
    router.add_post(template + "/use", use)
