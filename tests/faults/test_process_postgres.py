"""PostgreSQL restarted mid-run, through the real processes: every service goes not-ready and
answers 503 while it is down, none exits, each resumes on its own once it is back, and nothing is
lost or done twice.

The stack runs on a PostgreSQL cluster of its own (``PostgresCluster``: the machine's binaries,
a temporary data directory), so that the test can stop it (``pg_ctl stop -m fast``: every
connection terminated, as in a restart) and start it again on the same port. The session's
broker stays up.

Three batches of events, one webhook workflow, one peer that counts effects by ``webhook-id``:

1. *before*: sent and executed with the database up;
2. *in flight*: sent just before the stop; the peer holds their calls until the database is
   down, then accepts them, so that the executor meets the outage in the middle of each record
   (its step performed, not yet recorded). The records wait the outage out, uncommitted; once
   the database is back each execution is taken over (the lease of the run the outage
   interrupted expires: ``EXECUTOR_LEASE_SECONDS`` is short here) and its step is performed
   again with the same ``webhook-id`` — a duplicate the peer absorbs;
3. *refused*: sent while the database is down. Ingest cannot check the API key: it answers 503
   ``database_unavailable`` (nothing was accepted), and the sender sends the same events again
   once ingest is ready.

Every event ends as exactly one execution, every effect is seen once per ``webhook-id``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from shared import tenancy
from shared.testing import PostgresCluster, free_port
from tests.e2e.conftest import SERVICES, Stack, call, metric, stack_env
from tests.faults.ledger import Ledger
from tests.faults.support import create_workflow, finished_executions, ready, send_events

pytestmark = pytest.mark.e2e

BATCH = 3
LEASE_SECONDS = 3.0


@dataclass
class HoldingPeer:
    """A webhook receiver that records every call's ``webhook-id`` and, while ``holding`` is
    clear, keeps the calls it receives waiting until ``release`` is set."""

    port: int = field(default_factory=free_port)
    ids: list[str] = field(default_factory=list)
    held: int = 0
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def effects(self) -> int:
        return len(set(self.ids))

    @property
    def duplicates(self) -> int:
        return len(self.ids) - self.effects

    async def hook(self, request: web.Request) -> web.Response:
        await request.read()
        if self.holding.is_set():
            self.held += 1
            await self.release.wait()
        self.ids.append(request.headers["webhook-id"])
        return web.json_response({"ok": True})

    async def wait_for(self, held: int, *, within: float = 60) -> None:
        async with asyncio.timeout(within):
            while self.held < held:
                await asyncio.sleep(0.05)


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
async def peer() -> AsyncIterator[HoldingPeer]:
    peer = HoldingPeer()
    app = web.Application()
    app.router.add_post("/hook", peer.hook)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", peer.port).start()
    try:
        yield peer
    finally:
        peer.release.set()
        await runner.cleanup()


@pytest.fixture(scope="module")
async def running(
    kafka_bootstrap: str,
    cluster: PostgresCluster,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    admin = await asyncpg.connect(cluster.url)
    try:
        await admin.execute('CREATE DATABASE "workflows"')
    finally:
        await admin.close()
    env = stack_env(kafka_bootstrap, cluster.url_of("workflows"))
    # A run the outage interrupted keeps its lease until it expires; then it is taken over.
    env["EXECUTOR_LEASE_SECONDS"] = str(LEASE_SECONDS)
    stack = Stack(env=env, logs=tmp_path_factory.mktemp("pg-restart-logs"))
    try:
        for service in SERVICES:
            stack.start(service)
        await stack.wait_ready(within=120)
        yield stack
    finally:
        stack.stop_all()


async def _tenant_key(cluster: PostgresCluster) -> str:
    """A tenant and a read-write API key, in the stack's database (migrated by the services)."""
    tenant = f"tenant-{uuid.uuid4().hex[:8]}"
    pool = await asyncpg.create_pool(cluster.url_of("workflows"), min_size=1, max_size=1)
    try:
        await tenancy.create_tenant(pool, tenant)
        return await tenancy.create_api_key(pool, tenant)
    finally:
        await pool.close()


def _events(batch: str) -> list[dict[str, Any]]:
    return [
        {
            "type": "private_offer.accepted",
            "id": f"{batch}-{number}",
            "data": {"batch": batch, "customerName": "Globex", "value": number},
        }
        for number in range(BATCH)
    ]


async def _all_answer(stack: Stack, status: int, *, within: float = 60) -> None:
    """Until every service's /readyz answers ``status``; each process still the one started."""
    async with asyncio.timeout(within):
        while True:
            answers = {service: await _ready_status(stack, service) for service in SERVICES}
            if all(answer == status for answer in answers.values()):
                return
            await asyncio.sleep(0.2)


async def _ready_status(stack: Stack, service: str) -> int | None:
    process = stack.processes[service]
    assert process.poll() is None, (
        f"{service} exited ({process.returncode}):\n{stack.tail(service)}"
    )
    try:
        return await ready(stack, service)
    except (aiohttp.ClientError, TimeoutError):
        return None


async def test_postgres_restarted_mid_run(
    running: Stack, cluster: PostgresCluster, peer: HoldingPeer, ledger: Ledger
) -> None:
    stack = running
    pids = {service: process.pid for service, process in stack.processes.items()}
    key = await _tenant_key(cluster)
    workflow = await create_workflow(
        stack,
        key,
        {
            "name": "a webhook per accepted offer",
            "trigger": "private_offer.accepted",
            "actions": [{"type": "webhook", "url": peer.url}],
        },
    )

    # 1. Before: the database is up.
    await send_events(stack, key, _events("before"))
    await finished_executions(stack, key, workflow, BATCH)
    assert peer.effects == BATCH

    # 2. In flight: the executor performs each step while the database goes away.
    retries_before = await metric(stack, "executor", "stamina_retries_total")
    peer.holding.set()
    await send_events(stack, key, _events("in-flight"))
    await peer.wait_for(held=BATCH)
    cluster.stop()
    peer.holding.clear()
    peer.release.set()  # the calls succeed; the executor cannot record them

    # While it is down: not ready everywhere, 503 (never 500) where a request needs it.
    await _all_answer(stack, 503)
    refused = _events("refused")
    status, body = await call("POST", stack.url("ingest", "/v1/events"), key, refused)
    assert (status, body["error"]["code"]) == (503, "database_unavailable"), body
    history = stack.url("config_api", f"/api/workflows/{workflow['id']}/executions")
    status, body = await call("GET", history, key, None)
    assert (status, body["error"]["code"]) == (503, "database_unavailable"), body
    # The records in flight are waiting the outage out: each tried again a few times (with
    # backoff, ~1.4 s) before the database comes back.
    async with asyncio.timeout(30):
        while await metric(stack, "executor", "stamina_retries_total") < retries_before + 3 * BATCH:
            await asyncio.sleep(0.1)

    # Back on the same port: every service is ready again, none was restarted.
    cluster.start()
    await _all_answer(stack, 200)
    assert {service: process.pid for service, process in stack.processes.items()} == pids
    assert all(process.poll() is None for process in stack.processes.values())

    # 3. The sender sends what was refused again.
    await send_events(stack, key, refused)

    runs = await finished_executions(stack, key, workflow, 3 * BATCH, within=90)
    sent = [event["id"] for batch in ("before", "in-flight", "refused") for event in _events(batch)]
    assert sorted(runs) == sorted(sent)
    assert {run["status"] for run in runs.values()} == {"succeeded"}, runs
    async with asyncio.timeout(10):
        while peer.effects < 3 * BATCH:
            await asyncio.sleep(0.05)
    assert peer.effects == 3 * BATCH
    ledger.record(
        "PostgreSQL restarted mid-run (throwaway cluster)",
        held="every service not ready and 503 while down, none exited; records in flight "
        "waited it out and were taken over; refused events sent again; each run once",
        sent=3 * BATCH,
        executions=len(runs),
        effects=peer.effects,
        duplicates_absorbed=peer.duplicates,
        varies=("duplicates_absorbed",),
    )
