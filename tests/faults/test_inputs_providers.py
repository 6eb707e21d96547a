"""Providers that misbehave, through the real processes: each answer gets the behaviour README's
"Running executions" documents, and the partition is never blocked.

Every test sends two events of one tenant in one request to one workflow: the bad one, whose
step calls the misbehaving peer, and a good one behind it on the same partitions (events are
keyed by tenant, execution requests by workflow), whose step (its own "only if") calls a peer
that answers at once. The peer holds its
first answer to the bad call until the good call has arrived (at most ``HOLD_SECONDS``, below
the executor's timeout): the good one is performed while the bad one is in flight, or the test
fails. The bad call then gets its fault. Each event ends as exactly one execution of its one
workflow; each effect is counted at the peer (an answer it accepted, once per idempotency key).

The same module delivers one vendor webhook ten times at once to ingest: one event on Kafka,
one execution, one effect.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from shared import tenancy
from shared.contracts import Topics
from shared.testing import free_port
from tests.e2e.conftest import Stack
from tests.faults.ledger import Ledger
from tests.faults.support import (
    create_workflow,
    executions,
    finished_execution,
    finished_executions,
    send_events,
    topic_records,
)

pytestmark = pytest.mark.e2e

TIMEOUT_SECONDS = 3.0
HOLD_SECONDS = 2.5
RESPONSE_MAX_BYTES = 4096
HUGE_BYTES = 64 * 1024 * 1024
TOKEN = "fault-token"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "sources"
AWS_SECRET = "aws-inbound-secret"


@dataclass
class Attempt:
    route: str
    key: str | None
    status: int | None
    at: float


@dataclass
class MisbehavingPeer:
    """One aiohttp server speaking the webhook, Slack Web API, HubSpot CRM v3 and plain-API
    shapes, each misbehaving once or always as its route says; ``/ok`` answers at once."""

    port: int = field(default_factory=free_port)
    attempts: list[Attempt] = field(default_factory=list)
    good: asyncio.Event = field(default_factory=asyncio.Event)
    held_until_good: list[bool] = field(default_factory=list)
    huge_written: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.attempts.clear()
        self.held_until_good.clear()
        self.good = asyncio.Event()
        self.huge_written = 0

    def tries(self, route: str) -> list[Attempt]:
        return [attempt for attempt in self.attempts if attempt.route == route]

    def effects(self, route: str) -> int:
        """Calls to ``route`` the peer accepted (2xx), once per idempotency key."""
        accepted = [a for a in self.tries(route) if a.status is not None and a.status < 300]
        return len({a.key for a in accepted if a.key is not None}) + sum(
            1 for a in accepted if a.key is None
        )

    def _record(self, request: web.Request, route: str, status: int | None) -> int:
        key = request.headers.get("webhook-id") or request.headers.get("Idempotency-Key")
        self.attempts.append(Attempt(route, key, status, time.monotonic()))
        return len(self.tries(route))

    async def _hold(self) -> None:
        try:
            async with asyncio.timeout(HOLD_SECONDS):
                await self.good.wait()
        except TimeoutError:
            pass
        self.held_until_good.append(self.good.is_set())

    async def ok(self, request: web.Request) -> web.Response:
        await request.read()
        self._record(request, "ok", 200)
        self.good.set()
        return web.json_response({"ok": True})

    async def trap(self, request: web.Request) -> web.Response:
        self._record(request, "trap", 200)
        return web.json_response({"ok": True})

    async def slack(self, request: web.Request) -> web.Response:
        body = await request.json()
        if len(self.tries("slack")) == 0:
            self._record(request, "slack", 429)
            await self._hold()
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        self._record(request, "slack", 200)
        return web.json_response(
            {"ok": True, "channel": body["channel"], "ts": "1700000000.000100", "message": body}
        )

    async def hubspot(self, request: web.Request) -> web.Response:
        body = await request.json()
        if len(self.tries("hubspot")) == 0:
            self._record(request, "hubspot", 500)
            await self._hold()
            return web.json_response(
                {
                    "status": "error",
                    "message": "internal error",
                    "correlationId": "c0ffee00-0000-4000-8000-000000000000",
                    "category": "INTERNAL_ERROR",
                },
                status=500,
            )
        self._record(request, "hubspot", 201)
        return web.json_response(
            {"id": "5101", "properties": body["properties"], "archived": False}, status=201
        )

    async def webhook(self, request: web.Request) -> web.StreamResponse:
        kind = request.match_info["kind"]
        await request.read()
        first = not self.tries(kind)
        if kind == "gone":
            self._record(request, kind, 410)
            await self._hold()
            return web.json_response({"error": "this endpoint was removed"}, status=410)
        if kind == "redirect-public":
            self._record(request, kind, 302)
            await self._hold()
            raise web.HTTPFound("http://93.184.215.14/hook")
        if kind == "redirect-loopback":
            self._record(request, kind, 307)
            await self._hold()
            raise web.HTTPTemporaryRedirect(f"{self.base}/trap")
        if kind == "reset" and first:
            self._record(request, kind, None)
            await self._hold()
            transport = request.transport
            assert transport is not None
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()  # RST: the answer never comes
            return web.Response()
        if kind == "trickle":
            self._record(request, kind, 200)
            response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
            await response.prepare(request)
            deadline = time.monotonic() + 30
            seen = False  # the good call arrived while this one trickled
            try:
                while time.monotonic() < deadline:
                    if self.good.is_set() and not seen:
                        seen = True
                        self.held_until_good.append(True)
                    await response.write(b" ")
                    await asyncio.sleep(0.2)
            except (ConnectionError, RuntimeError):
                pass  # the executor gave up and closed the connection
            if not seen:
                self.held_until_good.append(self.good.is_set())
            return response
        self._record(request, kind, 200)
        return web.json_response({"ok": True})

    async def huge(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self._record(request, "huge", 200)
        await self._hold()
        response = web.StreamResponse(status=200, headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            while self.huge_written < HUGE_BYTES:
                await response.write(chunk)
                self.huge_written += len(chunk)
        except (ConnectionError, RuntimeError):
            pass  # the executor read what it keeps and closed the connection
        return response

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/ok", self.ok)
        app.router.add_post("/trap", self.trap)
        app.router.add_post("/slack/api/chat.postMessage", self.slack)
        app.router.add_post("/hubspot/crm/v3/objects/{type}", self.hubspot)
        app.router.add_post("/hook/{kind}", self.webhook)
        app.router.add_post("/api/huge", self.huge)
        return app


@pytest.fixture(scope="module")
async def peer() -> AsyncIterator[MisbehavingPeer]:
    peer = MisbehavingPeer()
    runner = web.AppRunner(peer.app(), access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", peer.port).start()
    try:
        yield peer
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
async def running(stack: Stack, peer: MisbehavingPeer) -> Stack:
    stack.env.update(
        {
            "WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
            "WEBHOOK_RESPONSE_MAX_BYTES": str(RESPONSE_MAX_BYTES),
            "EXECUTOR_ACTION_RETRY_WAIT_INITIAL_SECONDS": "0.1",
            "EXECUTOR_ACTION_RETRY_WAIT_MAX_SECONDS": "0.5",
            "SLACK_API_URL": f"{peer.base}/slack/api",
            "SLACK_BOT_TOKEN": TOKEN,
            "HUBSPOT_API_URL": f"{peer.base}/hubspot",
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
        }
    )
    for service in ("config_api", "ingest", "matcher", "executor"):
        stack.start(service)
    await stack.wait_ready(within=120)
    return stack


def _when(kind: str) -> dict[str, Any]:
    return {"logic": "AND", "rules": [{"field": "kind", "operator": "equals", "value": kind}]}


async def _bad_then_good(
    stack: Stack, peer: MisbehavingPeer, key: str, action: dict[str, Any], *, retries: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run the bad event (its step performs ``action``) with a good one behind it (its step
    calls ``/ok``): one workflow, so that both requests have one key and one partition all the
    way (events by tenant, requests by workflow). The two executions once finished, each its
    event's one execution."""
    peer.reset()
    workflow = await create_workflow(
        stack,
        key,
        {
            "name": f"misbehaving {action['type']}, and one behind it",
            "trigger": "private_offer.accepted",
            "actions": [
                {**action, "conditions": _when("bad")},
                {"type": "webhook", "url": f"{peer.base}/ok", "conditions": _when("good")},
            ],
            "errorHandling": {"retryCount": retries},
        },
    )
    await send_events(
        stack,
        key,
        [
            {
                "type": "private_offer.accepted",
                "id": f"{kind}-{workflow['id']}",
                "data": {"kind": kind, "customerName": "Globex", "value": 1},
            }
            for kind in ("bad", "good")
        ],
    )
    runs = await finished_executions(stack, key, workflow, 2)
    bad, good = runs[f"bad-{workflow['id']}"], runs[f"good-{workflow['id']}"]
    assert good["status"] == "succeeded", good
    assert [step["status"] for step in good["steps"]] == ["skipped", "succeeded"]
    assert peer.held_until_good, "the bad call never reached the peer"
    assert all(peer.held_until_good), (
        "the event behind the bad one was not performed while the bad call was in flight"
    )
    assert len(peer.tries("ok")) == 1
    return bad, good


async def _dead_letter(stack: Stack, execution_id: str) -> dict[str, Any]:
    topic = Topics(stack.env["TOPIC_PREFIX"]).executions_deadletter

    def mine(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            r
            for r in records
            if isinstance(r, dict) and (r.get("request") or {}).get("execution_id") == execution_id
        ]

    records = await topic_records(stack, topic, lambda found: bool(mine(found)))
    [letter] = mine(records)
    return letter


def _step(run: dict[str, Any]) -> dict[str, Any]:
    """The bad run's misbehaving step; the good one's is skipped (or never reached)."""
    step, *rest = run["steps"]
    assert [s["status"] for s in rest] in ([], ["skipped"]), run
    return dict(step)


async def test_a_provider_answering_500_is_retried_and_the_partition_flows(
    running: Stack, peer: MisbehavingPeer, api_key: str, ledger: Ledger
) -> None:
    action = {
        "type": "hubspot_create",
        "object": "contacts",
        "mapping": {"company": "{{customerName}}"},
    }
    bad, _ = await _bad_then_good(running, peer, api_key, action, retries=2)
    step = _step(bad)
    assert (bad["status"], step["status"], step["attempts"]) == ("succeeded", "succeeded", 2)
    assert step["result"]["id"] == "5101"
    assert [a.status for a in peer.tries("hubspot")] == [500, 201]
    ledger.record(
        "Provider answers 500 (HubSpot)",
        held="retried with backoff; created once on the 2nd attempt; partition kept flowing",
        sent=2,
        executions=2,
        effects=peer.effects("hubspot") + peer.effects("ok"),
    )


async def test_a_429_with_retry_after_is_waited_out_and_the_partition_flows(
    running: Stack, peer: MisbehavingPeer, api_key: str, ledger: Ledger
) -> None:
    action = {"type": "slack", "channel": "#wins", "message": "Deal: {{customerName}}"}
    bad, _ = await _bad_then_good(running, peer, api_key, action, retries=2)
    step = _step(bad)
    assert (bad["status"], step["status"], step["attempts"]) == ("succeeded", "succeeded", 2)
    first, second = peer.tries("slack")
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 0.9, "the retry came before Retry-After: 1 had passed"
    ledger.record(
        "Provider answers 429 with Retry-After (Slack)",
        held="retried after Retry-After; posted once; other destinations not paused",
        sent=2,
        executions=2,
        effects=peer.effects("slack") + peer.effects("ok"),
    )


async def test_a_410_fails_for_good_without_retries_and_is_dead_lettered(
    running: Stack, peer: MisbehavingPeer, api_key: str, ledger: Ledger
) -> None:
    action = {"type": "webhook", "url": f"{peer.base}/hook/gone"}
    bad, _ = await _bad_then_good(running, peer, api_key, action, retries=2)
    step = _step(bad)
    assert (bad["status"], step["status"], step["attempts"]) == ("failed", "failed", 1)
    assert step["error"]["code"] == "webhook_rejected"
    assert step["error"]["message"].startswith("HTTP 410")
    letter = await _dead_letter(running, bad["id"])
    assert letter["error"]["code"] == "webhook_rejected"
    ledger.record(
        "Provider answers 410 (webhook)",
        held="failed for good, not retried; dead-lettered with the reason; partition kept flowing",
        sent=2,
        executions=2,
        effects=peer.effects("gone") + peer.effects("ok"),
    )


@pytest.mark.parametrize(
    ("kind", "status", "fault"),
    [
        ("redirect-public", 302, "Provider redirects to a public address (webhook)"),
        ("redirect-loopback", 307, "Provider redirects to loopback (webhook)"),
    ],
)
async def test_a_redirect_is_never_followed(
    running: Stack,
    peer: MisbehavingPeer,
    api_key: str,
    ledger: Ledger,
    kind: str,
    status: int,
    fault: str,
) -> None:
    action = {"type": "webhook", "url": f"{peer.base}/hook/{kind}"}
    bad, _ = await _bad_then_good(running, peer, api_key, action, retries=2)
    step = _step(bad)
    assert (bad["status"], step["status"], step["attempts"]) == ("failed", "failed", 1)
    assert step["responseStatus"] == status
    assert step["error"]["message"].startswith(f"HTTP {status}")
    assert peer.tries("trap") == [], "the redirect was followed"
    await _dead_letter(running, bad["id"])
    ledger.record(
        fault,
        held="not followed: failed for good with the 3xx, dead-lettered; target never called",
        sent=2,
        executions=2,
        effects=peer.effects(kind) + peer.effects("trap") + peer.effects("ok"),
    )


async def test_a_trickling_body_times_out_and_the_partition_flows(
    running: Stack, peer: MisbehavingPeer, api_key: str, ledger: Ledger
) -> None:
    action = {"type": "webhook", "url": f"{peer.base}/hook/trickle"}
    bad, _ = await _bad_then_good(running, peer, api_key, action, retries=0)
    step = _step(bad)
    assert (bad["status"], step["status"], step["attempts"]) == ("failed", "failed", 1)
    assert step["error"]["code"] == "delivery_failed", step
    await _dead_letter(running, bad["id"])
    ledger.record(
        "Provider trickles its answer (webhook)",
        held="cut at WEBHOOK_TIMEOUT_SECONDS, a transient failure (retryCount 0: failed, "
        "dead-lettered); partition kept flowing",
        sent=2,
        executions=2,
        effects=peer.effects("trickle") + peer.effects("ok"),
    )


async def test_a_huge_body_is_read_only_up_to_the_cap(
    running: Stack, peer: MisbehavingPeer, api_key: str, ledger: Ledger
) -> None:
    action = {"type": "call_api", "method": "POST", "url": f"{peer.base}/api/huge", "body": {}}
    bad, _ = await _bad_then_good(running, peer, api_key, action, retries=0)
    step = _step(bad)
    assert (bad["status"], step["status"], step["attempts"]) == ("succeeded", "succeeded", 1)
    kept = step["result"]["body"]
    assert kept.endswith("…")
    assert set(kept[:-1]) == {"x"}
    assert len(kept) <= RESPONSE_MAX_BYTES
    assert peer.huge_written < HUGE_BYTES, "the whole answer was read"
    ledger.record(
        "Provider answers a 64 MiB body (call_api)",
        held="read up to WEBHOOK_RESPONSE_MAX_BYTES, the rest never; step log keeps the start",
        sent=2,
        executions=2,
        effects=peer.effects("huge") + peer.effects("ok"),
    )


async def test_a_reset_connection_is_retried_with_the_same_webhook_id(
    running: Stack, peer: MisbehavingPeer, api_key: str, ledger: Ledger
) -> None:
    action = {"type": "webhook", "url": f"{peer.base}/hook/reset"}
    bad, _ = await _bad_then_good(running, peer, api_key, action, retries=2)
    step = _step(bad)
    assert (bad["status"], step["status"], step["attempts"]) == ("succeeded", "succeeded", 2)
    first, second = peer.tries("reset")
    assert first.key == second.key == f"{bad['id']}:0"
    assert (first.status, second.status) == (None, 200)
    ledger.record(
        "Provider resets the connection (webhook)",
        held="retried as transient, same webhook-id; delivered once; partition kept flowing",
        sent=2,
        executions=2,
        effects=peer.effects("reset") + peer.effects("ok"),
    )


async def test_one_vendor_webhook_delivered_ten_times_at_once_is_one_event_and_one_execution(
    running: Stack, peer: MisbehavingPeer, pool: Any, api_key: str, tenant_id: str, ledger: Ledger
) -> None:
    peer.reset()
    await tenancy.set_inbound_secret(pool, tenant_id, "aws", AWS_SECRET)
    workflow = await create_workflow(
        running,
        api_key,
        {
            "name": "offer released",
            "trigger": "private_offer.created",
            "actions": [{"type": "webhook", "url": f"{peer.base}/ok"}],
        },
    )
    body = (FIXTURES / "aws" / "offer-released.json").read_bytes()
    headers = {"Authorization": f"Bearer {AWS_SECRET}", "Content-Type": "application/json"}

    async def deliver(http: aiohttp.ClientSession) -> tuple[int, dict[str, Any]]:
        url = running.url("ingest", f"/v1/webhooks/aws/{tenant_id}")
        async with http.post(url, data=body, headers=headers) as response:
            return response.status, await response.json()

    async with aiohttp.ClientSession() as http:
        answers = await asyncio.gather(*(deliver(http) for _ in range(10)))
    assert [status for status, _ in answers] == [200] * 10, answers
    ids = {event["id"] for _, answer in answers for event in answer["events"]}
    [event_id] = ids
    assert sorted(answer["published"] for _, answer in answers) == [0] * 9 + [1]

    run = await finished_execution(running, api_key, workflow)
    assert (run["status"], run["event"]["id"]) == ("succeeded", event_id)
    topic = Topics(running.env["TOPIC_PREFIX"]).events_normalized
    on_kafka = [
        r
        for r in await topic_records(
            running, topic, lambda found: any(r.get("id") == event_id for r in found)
        )
        if r.get("id") == event_id
    ]
    assert len(on_kafka) == 1
    assert len(await executions(running, api_key, workflow)) == 1
    [delivery] = peer.tries("ok")
    assert delivery.key == f"{run['id']}:0"
    ledger.record(
        "Same vendor webhook (AWS) delivered 10x concurrently",
        held="ten 200s with one event id; one record on Kafka, one execution, one delivery",
        sent=10,
        executions=1,
        effects=peer.effects("ok"),
        duplicates_absorbed=9,
    )
