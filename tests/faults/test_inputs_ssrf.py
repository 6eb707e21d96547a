"""SSRF attempts through the real processes, against every performer whose URL a workflow's
author writes (``webhook``, ``call_api``, ``teams``): refused, with the reason in the step log.

The executor runs with private networks NOT allowed, while the peer that would answer listens
on 127.0.0.1: every refusal happens before a connection, and the peer counts none. The config
API this stack saves through allows private networks (as the dev stack's does), so that the
literal addresses reach the executor and its own refusal shows in the step log; a second
config API replica, with the production default, refuses the same literals at save time (422
naming the field). Names that resolve to private addresses cannot be refused at save time: the
executor's resolver (``WEBHOOK_HOSTS`` stands in for DNS here) refuses them where it connects.

A redirect to loopback is the providers module's: redirects are never followed, even where
private networks are allowed (``test_inputs_providers``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from shared.testing import free_port
from tests.e2e.conftest import Stack, call
from tests.faults.ledger import Ledger
from tests.faults.support import create_workflow, executions, finished_execution, send_events

pytestmark = pytest.mark.e2e

PERFORMERS = ("webhook", "call_api", "teams")
REBINDING = "hooks.rebind.example"
INTERNAL = "crm.corp.example"


class Trap:
    """The peer on loopback that every refused call would have reached."""

    def __init__(self) -> None:
        self.port = free_port()
        self.hits: list[str] = []

    async def record(self, request: web.Request) -> web.Response:
        self.hits.append(str(request.url))
        return web.json_response({"ok": True})


@pytest.fixture(scope="module")
async def trap() -> AsyncIterator[Trap]:
    trap = Trap()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", trap.record)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", trap.port).start()
    try:
        yield trap
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
async def running(stack: Stack, trap: Trap) -> Stack:
    for service in ("config_api", "ingest", "matcher"):
        stack.start(service)
    stack.start(
        "executor",
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="false",
        WEBHOOK_HOSTS=json.dumps({REBINDING: "127.0.0.1", INTERNAL: "10.0.0.5"}),
    )
    await stack.wait_ready(within=120)
    stack.start("config_api", replica="config_api_strict", WEBHOOK_ALLOW_PRIVATE_NETWORKS="false")
    await stack.wait_ready("config_api_strict", within=120)
    return stack


ATTEMPTS = [
    pytest.param(
        "SSRF: cloud metadata IP (169.254.169.254)",
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        True,
        "169.254.169.254 is not a public address",
        id="metadata",
    ),
    pytest.param(
        "SSRF: IPv4-mapped IPv6 loopback ([::ffff:127.0.0.1])",
        "http://[::ffff:127.0.0.1]:{port}/x",
        True,
        "is not a public address",
        id="ipv4-mapped",
    ),
    pytest.param(
        "SSRF: decimal IP (2130706433)",
        "http://2130706433:{port}/x",
        True,
        "127.0.0.1 is not a public address",
        id="decimal",
    ),
    pytest.param(
        "SSRF: octal IP (0177.0.0.1)",
        "http://0177.0.0.1:{port}/x",
        True,
        "127.0.0.1 is not a public address",
        id="octal",
    ),
    pytest.param(
        "SSRF: localhost. (trailing dot)",
        "http://localhost.:{port}/x",
        True,
        "names this machine",
        id="localhost-dot",
    ),
    pytest.param(
        "SSRF: a name resolving to loopback",
        f"http://{REBINDING}:{{port}}/x",
        False,
        f"{REBINDING} resolves to 127.0.0.1 is not a public address",
        id="name-to-loopback",
    ),
    pytest.param(
        "SSRF: a name resolving to a private address (10.0.0.5)",
        f"http://{INTERNAL}/x",
        False,
        f"{INTERNAL} resolves to 10.0.0.5 is not a public address",
        id="name-to-private",
    ),
]


def _actions(url: str) -> list[dict[str, Any]]:
    return [
        {"type": "webhook", "url": url},
        {"type": "call_api", "method": "POST", "url": url, "body": {"who": "{{customerName}}"}},
        {"type": "teams", "url": url, "message": "Deal: {{customerName}}"},
    ]


@pytest.mark.parametrize(("fault", "template", "literal", "reason"), ATTEMPTS)
async def test_an_ssrf_attempt_is_refused_with_the_reason_in_the_step_log(
    running: Stack,
    trap: Trap,
    api_key: str,
    ledger: Ledger,
    fault: str,
    template: str,
    literal: bool,
    reason: str,
) -> None:
    url = template.format(port=trap.port)
    definition = {
        "name": f"calls {url}",
        "trigger": "private_offer.accepted",
        "actions": _actions(url),
        "errorHandling": {"onError": "continue", "retryCount": 2},
    }

    status, saved = await call(
        "POST",
        running.url("config_api_strict", "/api/workflows"),
        api_key,
        {"active": True, **definition},
    )
    if literal:
        assert status == 422, saved
        paths = [detail["path"] for detail in saved["error"]["details"]]
        assert paths == [f"$.actions[{i}].{kind}.url" for i, kind in enumerate(PERFORMERS)]
        workflow = await create_workflow(running, api_key, definition)
    else:
        assert status == 201, "a name is checked where it is resolved, not when saved"
        workflow = saved
    await send_events(
        running,
        api_key,
        [{"type": "private_offer.accepted", "id": "ssrf-1", "data": {"customerName": "Globex"}}],
    )
    run = await finished_execution(running, api_key, workflow)
    assert run["status"] == "succeeded_with_errors", run
    assert [step["actionType"] for step in run["steps"]] == list(PERFORMERS)
    for step in run["steps"]:
        assert step["status"] == "failed", step
        assert step["error"]["code"] == "destination_refused", step
        assert reason in step["error"]["message"], step
        assert step["attempts"] <= 1, "a refusal is not retried"
    assert len(await executions(running, api_key, workflow)) == 1
    assert trap.hits == []
    ledger.record(
        fault,
        held=(
            "422 at save (strict API); refused before connecting in all 3 performers, "
            "reason in the step log"
            if literal
            else "saved (a name); refused where resolved in all 3 performers, reason in the "
            "step log"
        ),
        sent=1,
        executions=1,
        effects=len(trap.hits),
    )
