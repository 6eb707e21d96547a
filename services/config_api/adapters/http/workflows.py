"""Routes for workflows, their versions and their executions."""

from __future__ import annotations

from datetime import UTC, datetime

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
from services.config_api.domain import WorkflowRecord
from services.config_api.handlers.hooks import hook_view


def _workflow_id(request: web.Request) -> str:
    return request.match_info["workflow_id"]


def _version_number(request: web.Request) -> int:
    digits = request.match_info["version"]
    # The route admits only ASCII digits; a number past int32 names no version.
    return int(digits) if len(digits) <= 10 else 0


def _shown(
    record: WorkflowRecord, status: int = 200, *, hook: dict[str, object] | None = None
) -> web.Response:
    headers = {"ETag": record.etag}
    if status == 201:
        headers["Location"] = f"/api/workflows/{record.id}"
    body = record.to_api()
    if hook is not None:
        body["hook"] = hook
    return web.json_response(body, status=status, headers=headers)


async def create(request: web.Request) -> web.Response:
    body = await read_body(request)
    record = await handlers.create_workflow(
        api(request).workflows, principal(request), body, api(request).policy
    )
    return _shown(record, 201)


async def list_(request: web.Request) -> web.Response:
    page = await handlers.list_workflows(
        api(request).workflows,
        principal(request),
        status=query(request, "status"),
        trigger=query(request, "trigger"),
        cursor=query(request, "cursor"),
        limit=limit(request),
    )
    return web.json_response(page.to_api())


async def get(request: web.Request) -> web.Response:
    caller = principal(request)
    record = await handlers.get_workflow(api(request).workflows, caller, _workflow_id(request))
    if record is None:
        return not_found("workflow")
    hook = await hook_view(api(request).hooks, caller, record.id, record.definition.trigger)
    return _shown(record, hook=hook)


async def update(request: web.Request) -> web.Response:
    body = await read_body(request)
    record = await handlers.update_workflow(
        api(request).workflows,
        principal(request),
        _workflow_id(request),
        body,
        api(request).policy,
        if_match=request.headers.get("If-Match"),
    )
    return _shown(record) if record is not None else not_found("workflow")


async def delete(request: web.Request) -> web.Response:
    deleted = await handlers.delete_workflow(
        api(request).workflows,
        principal(request),
        _workflow_id(request),
        if_match=request.headers.get("If-Match"),
    )
    return web.Response(status=204) if deleted else not_found("workflow")


async def duplicate(request: web.Request) -> web.Response:
    record = await handlers.duplicate_workflow(
        api(request).workflows, principal(request), _workflow_id(request)
    )
    return _shown(record, 201) if record is not None else not_found("workflow")


async def test(request: web.Request) -> web.Response:
    body = await read_body(request) if request.can_read_body else None
    result = await handlers.test_workflow(
        api(request).workflows,
        principal(request),
        _workflow_id(request),
        body,
        datetime.now(UTC),
    )
    return web.json_response(result) if result is not None else not_found("workflow")


async def list_versions(request: web.Request) -> web.Response:
    page = await handlers.list_versions(
        api(request).workflows,
        principal(request),
        _workflow_id(request),
        cursor=query(request, "cursor"),
        limit=limit(request),
    )
    return web.json_response(page.to_api()) if page is not None else not_found("workflow")


async def get_version(request: web.Request) -> web.Response:
    version = await handlers.get_version(
        api(request).workflows,
        principal(request),
        _workflow_id(request),
        _version_number(request),
    )
    return web.json_response(version.to_api()) if version is not None else not_found("version")


async def restore(request: web.Request) -> web.Response:
    record = await handlers.restore_version(
        api(request).workflows,
        principal(request),
        _workflow_id(request),
        _version_number(request),
        api(request).policy,
        if_match=request.headers.get("If-Match"),
    )
    return _shown(record) if record is not None else not_found("workflow version")


async def list_executions(request: web.Request) -> web.Response:
    page = await handlers.list_executions(
        api(request).executions,
        api(request).workflows,
        principal(request),
        _workflow_id(request),
        status=query(request, "status"),
        cursor=query(request, "cursor"),
        limit=limit(request),
    )
    return web.json_response(page.to_api()) if page is not None else not_found("workflow")


async def get_execution(request: web.Request) -> web.Response:
    execution = await handlers.get_execution(
        api(request).executions, principal(request), request.match_info["execution_id"]
    )
    return web.json_response(execution.to_api()) if execution else not_found("execution")


def add_routes(router: web.UrlDispatcher) -> None:
    workflow = "/api/workflows/{workflow_id}"
    version = workflow + "/versions/{version:[0-9]+}"
    router.add_get("/api/workflows", list_)
    router.add_post("/api/workflows", create)
    router.add_get(workflow, get)
    router.add_put(workflow, update)
    router.add_delete(workflow, delete)
    router.add_post(workflow + "/duplicate", duplicate)
    router.add_post(workflow + "/test", test)
    router.add_get(workflow + "/versions", list_versions)
    router.add_get(version, get_version)
    router.add_post(version + "/restore", restore)
    router.add_get(workflow + "/executions", list_executions)
    router.add_get("/api/executions/{execution_id}", get_execution)
