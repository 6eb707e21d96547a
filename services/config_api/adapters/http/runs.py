"""Routes for run now, the runs page across workflows, and a workflow's stats strip."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from services.config_api.adapters.http.common import (
    api,
    limit,
    not_found,
    principal,
    query,
    read_body,
)
from services.config_api.domain.runs import ConditionsNotMet, DataTooLarge, run_accepted
from services.config_api.handlers import runs as handlers
from shared.observability import json_error


async def run(request: web.Request) -> web.Response:
    body = await read_body(request) if request.can_read_body else None
    try:
        queued = await handlers.run_workflow(
            api(request).runs,
            principal(request),
            request.match_info["workflow_id"],
            body,
            max_data_bytes=api(request).run_data_max_bytes,
            now=datetime.now(UTC),
        )
    except DataTooLarge as error:
        return json_error(413, "data_too_large", str(error), error.details)
    except ConditionsNotMet as error:
        return json_error(422, "conditions_not_met", str(error), error.details)
    if queued is None:
        return not_found("workflow")
    forced = queued.workflow.status != "active"
    return web.json_response(
        run_accepted(queued, forced=forced),
        status=202,
        headers={"Location": f"/api/executions/{queued.execution_id}"},
    )


async def list_runs(request: web.Request) -> web.Response:
    page = await handlers.list_runs(
        api(request).runs,
        principal(request),
        status=query(request, "status"),
        workflow=query(request, "workflow"),
        trigger=query(request, "trigger"),
        since=query(request, "from"),
        until=query(request, "to"),
        cursor=query(request, "cursor"),
        limit=limit(request),
    )
    return web.json_response(page.to_api())


async def stats(request: web.Request) -> web.Response:
    figures = await handlers.workflow_stats(
        api(request).runs,
        api(request).workflows,
        principal(request),
        request.match_info["workflow_id"],
        window=query(request, "window"),
        now=datetime.now(UTC),
    )
    return web.json_response(figures.to_api()) if figures is not None else not_found("workflow")


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/workflows/{workflow_id}/run", run)
    router.add_get("/api/workflows/{workflow_id}/stats", stats)
    router.add_get("/api/executions", list_runs)
