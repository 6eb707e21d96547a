"""Routes for the inbound hooks of ``webhook.received`` workflows."""

from __future__ import annotations

from aiohttp import web

from services.config_api.adapters.http.common import api, not_found, principal
from services.config_api.handlers.hooks import issue_hook_token


async def issue_token(request: web.Request) -> web.Response:
    """201 with the hook's URL and token (the only time the token is shown)."""
    workflow_id = request.match_info["workflow_id"]
    issued = await issue_hook_token(api(request).hooks, principal(request), workflow_id)
    if issued is None:
        return not_found("workflow")
    return web.json_response(
        issued.to_api(api(request).hooks_base_url),
        status=201,
        headers={"Cache-Control": "no-store"},
    )


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post("/api/workflows/{workflow_id}/hook-token", issue_token)
