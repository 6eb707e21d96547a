"""Routes for a tenant's settings, email templates, inbound secrets and audit log."""

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
from services.config_api.domain import EmailTemplate
from shared.observability import json_error
from shared.tenancy import INBOUND_SOURCES, InboundSource


async def get_tenant(request: web.Request) -> web.Response:
    shown = await handlers.get_tenant(api(request).tenants, principal(request))
    return web.json_response(shown) if shown is not None else not_found("tenant")


async def update_tenant(request: web.Request) -> web.Response:
    body = await read_body(request)
    shown = await handlers.update_tenant(api(request).tenants, principal(request), body)
    return web.json_response(shown) if shown is not None else not_found("tenant")


def _template_id(request: web.Request) -> str:
    return request.match_info["template_id"]


def _shown(template: EmailTemplate, status: int = 200) -> web.Response:
    headers = {"Location": f"/api/email-templates/{template.id}"} if status == 201 else None
    return web.json_response(template.to_api(), status=status, headers=headers)


async def create_template(request: web.Request) -> web.Response:
    body = await read_body(request)
    template = await handlers.create_template(api(request).templates, principal(request), body)
    return _shown(template, 201)


async def list_templates(request: web.Request) -> web.Response:
    page = await handlers.list_templates(
        api(request).templates,
        principal(request),
        cursor=query(request, "cursor"),
        limit=limit(request),
    )
    return web.json_response(page.to_api())


async def get_template(request: web.Request) -> web.Response:
    template = await handlers.get_template(
        api(request).templates, principal(request), _template_id(request)
    )
    return _shown(template) if template is not None else not_found("email template")


async def update_template(request: web.Request) -> web.Response:
    body = await read_body(request)
    template = await handlers.update_template(
        api(request).templates, principal(request), _template_id(request), body
    )
    return _shown(template) if template is not None else not_found("email template")


async def delete_template(request: web.Request) -> web.Response:
    deleted = await handlers.delete_template(
        api(request).templates, principal(request), _template_id(request)
    )
    return web.Response(status=204) if deleted else not_found("email template")


def _source(request: web.Request) -> InboundSource | None:
    return handlers.inbound_source(request.match_info["source"])


def _unknown_source() -> web.Response:
    return json_error(404, "not_found", f"no such source; one of {', '.join(INBOUND_SOURCES)}")


async def list_secrets(request: web.Request) -> web.Response:
    shown = await handlers.list_inbound_secrets(api(request).secrets, principal(request))
    return web.json_response({"items": shown})


async def get_secret(request: web.Request) -> web.Response:
    source = _source(request)
    if source is None:
        return _unknown_source()
    shown = await handlers.get_inbound_secret(api(request).secrets, principal(request), source)
    return web.json_response(shown)


async def set_secret(request: web.Request) -> web.Response:
    source = _source(request)
    if source is None:
        return _unknown_source()
    body = await read_body(request)
    shown = await handlers.set_inbound_secret(
        api(request).secrets, principal(request), source, body
    )
    return web.json_response(shown)


async def delete_secret(request: web.Request) -> web.Response:
    source = _source(request)
    if source is None:
        return _unknown_source()
    deleted = await handlers.delete_inbound_secret(api(request).secrets, principal(request), source)
    return web.Response(status=204) if deleted else not_found(f"{source} secret")


async def list_audit(request: web.Request) -> web.Response:
    page = await handlers.list_audit(
        api(request).audit,
        principal(request),
        resource_type=query(request, "resourceType"),
        resource_id=query(request, "resourceId"),
        cursor=query(request, "cursor"),
        limit=limit(request),
    )
    return web.json_response(page.to_api())


def add_routes(router: web.UrlDispatcher) -> None:
    template = "/api/email-templates/{template_id}"
    secret = "/api/inbound-secrets/{source}"  # noqa: S105 - a route, not a password
    router.add_get("/api/tenant", get_tenant)
    router.add_put("/api/tenant", update_tenant)
    router.add_get("/api/email-templates", list_templates)
    router.add_post("/api/email-templates", create_template)
    router.add_get(template, get_template)
    router.add_put(template, update_template)
    router.add_delete(template, delete_template)
    router.add_get("/api/inbound-secrets", list_secrets)
    router.add_get(secret, get_secret)
    router.add_put(secret, set_secret)
    router.add_delete(secret, delete_secret)
    router.add_get("/api/audit", list_audit)
