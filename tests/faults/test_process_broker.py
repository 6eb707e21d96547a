"""The broker unreachable for a while during ingest: a network partition, through the real
processes.

The stack has a broker of its own (the embedded one keeps its state in memory, so a restart
would lose everything and is not this fault): it listens on one port and advertises another,
where a ``TcpForwarder`` relays to it. The forwarder is the network: cutting it resets every
connection of every service to the broker and refuses new ones; healing it accepts them again.
The broker keeps running, with its topics, offsets and groups, throughout.

A client posts events to ``POST /v1/events``, one per request with distinct ids, at a steady
pace from before the cut until after the heal. One execution is in its action when the cut
comes (the peer holds its answer until the cut is a second old), and one workflow change is
saved while the broker is cut off. Every answer is a 202 or a 503 ``broker_unavailable``
within the ingest's Kafka request timeout (never a hang, never a 500), and every request
answered while the broker was cut off is a 503; every 202 event is on ``events.normalized``
before anything is sent again. Then the client re-sends each 503 event with its id, as a
producer would, and gets a 202. Every service is ready again without a restart (the same
process), the change saved while cut off reaches the changelog, and every event ends as
exactly one execution with one effect (one ``webhook-id``) at the peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass, field

import aiohttp
import pytest
from aiohttp import web

from shared.contracts import Topics
from shared.postgres import Pool
from shared.testing import EmbeddedBroker, TcpForwarder, free_port
from tests.e2e.conftest import SERVICES, Stack, call, stack_env
from tests.faults.ledger import Ledger
from tests.faults.support import create_workflow, finished_executions, ready, topic_records

pytestmark = pytest.mark.e2e

REQUEST_TIMEOUT_MS = 4000
"""Every Kafka client's request timeout in this stack: how long a publish waits for an ack
before ingest answers 503. Short, for a quick answer, but longer than the broker holds a
JoinGroup (half the session timeout, BROKER.md), or a consumer's join never completes."""
ANSWER_WITHIN = REQUEST_TIMEOUT_MS / 1000 + 4
"""The longest an answer may take: the request timeout plus room for a busy machine."""
BEFORE = 3
"""Events sent and executed before the cut."""
PACE = 0.5
"""Events are posted across the fault one every ``PACE`` seconds: ``CUT_AFTER`` before the cut
(their answers may be in flight when it comes), then until ``AFTER_HEAL`` after the heal."""
CUT_AFTER = 3
AFTER_HEAL = 4
CUT_SECONDS = 6.0
SILENCE_SECONDS = 12.0
"""A silent cut lasts longer: a producer alone holds a record for several request timeouts when
nothing answers, and the answer must come within ``ANSWER_WITHIN`` all the same."""
HOLD_SECONDS = 8.0
"""The longest the peer holds the answer to the action in flight at the cut (below the
executor's 10 s webhook timeout: the action succeeds on its one attempt)."""
TYPE = "private_offer.accepted"


@pytest.fixture(scope="module")
def broker() -> Iterator[EmbeddedBroker]:
    """A broker only this module's stack talks to, advertised where ``network`` listens."""
    with EmbeddedBroker(advertised_port=free_port()) as broker:
        yield broker


@pytest.fixture(scope="module")
def network(broker: EmbeddedBroker) -> Iterator[TcpForwarder]:
    """The only way to the broker: what its metadata tells every client to connect to."""
    with TcpForwarder.to_tcp(
        "127.0.0.1", broker.port, listen_port=broker.advertised_port
    ) as forwarder:
        yield forwarder


@pytest.fixture(scope="module")
async def running(
    network: TcpForwarder, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    stack = Stack(
        env=stack_env(network.address, database_url, request_timeout_ms=REQUEST_TIMEOUT_MS),
        logs=tmp_path_factory.mktemp("broker-fault-logs"),
    )
    try:
        for service in SERVICES:
            stack.start(service)
        await stack.wait_ready(within=120)
        yield stack
    finally:
        stack.stop_all()


@dataclass
class HoldingPeer:
    """A webhook receiver: records each call's ``webhook-id`` and event id, and holds its answer
    to the event ``held`` until ``release`` (at most ``HOLD_SECONDS``)."""

    port: int = field(default_factory=free_port)
    held: str | None = None
    holding: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    calls: list[tuple[str, str]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        event_id = body["event"]["id"]
        if event_id == self.held and not self.release.is_set():
            self.holding.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.release.wait(), HOLD_SECONDS)
        self.calls.append((request.headers["webhook-id"], event_id))
        return web.json_response({"ok": True})

    async def effects(self, count: int, *, within: float = 30) -> dict[str, str]:
        """The event id of each distinct ``webhook-id`` answered, once there are ``count``."""
        async with asyncio.timeout(within):
            while len(dict(self.calls)) < count:
                await asyncio.sleep(0.05)
        return dict(self.calls)


@pytest.fixture
async def peer() -> AsyncIterator[HoldingPeer]:
    peer = HoldingPeer()
    app = web.Application()
    app.router.add_post("/hook", peer.receive)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", peer.port).start()
    try:
        yield peer
    finally:
        await runner.cleanup()


@dataclass(frozen=True)
class Answer:
    event_id: str
    status: int
    code: str | None
    seconds: float
    sent_at: float


async def post_event(http: aiohttp.ClientSession, stack: Stack, key: str, event_id: str) -> Answer:
    """POST one event (its own request) and time the answer."""
    started = time.monotonic()
    event = {"type": TYPE, "id": event_id, "data": {"customerName": "Globex", "value": 1}}
    async with http.post(
        stack.url("ingest", "/v1/events"), json=event, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        body = await response.json()
    code = body.get("error", {}).get("code") if response.status >= 400 else None
    if response.status == 202:
        assert body["published"] == 1, body
    return Answer(event_id, response.status, code, time.monotonic() - started, started)


async def wait_all_ready(stack: Stack, pids: dict[str, int], *, within: float = 60) -> None:
    """Until every service answers /readyz 200, each still the process it was (no restart)."""
    async with asyncio.timeout(within):
        for service in SERVICES:
            while True:
                process = stack.processes[service]
                assert process.poll() is None, f"{service} exited:\n{stack.tail(service)}"
                assert process.pid == pids[service], f"{service} was restarted"
                try:
                    if await ready(stack, service) == 200:
                        break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.2)


async def readiness(stack: Stack, service: str) -> int:
    """``/readyz``'s status, waited for as long as the checks take (a Kafka request timeout,
    with the broker silently out of reach)."""
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.get(stack.url(service, "/readyz")) as response,
    ):
        return response.status


@dataclass(frozen=True)
class Outcome:
    sent: int
    executions: int
    effects: int
    duplicates_absorbed: int


async def partition_during_ingest(
    stack: Stack,
    network: TcpForwarder,
    peer: HoldingPeer,
    pool: Pool,
    api_key: str,
    tenant_id: str,
    *,
    silently: bool,
    cut_seconds: float,
) -> Outcome:
    """The whole scenario of the module's docstring, with the network cut ``silently`` or not."""
    topics = Topics(stack.env["TOPIC_PREFIX"])
    workflow = await create_workflow(
        stack,
        api_key,
        {"name": "partition", "trigger": TYPE, "actions": [{"type": "webhook", "url": peer.url}]},
    )
    marker = uuid.uuid4().hex[:8]
    before = [f"{marker}-before-{n}" for n in range(BEFORE)]
    peer.held = f"{marker}-held"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        for event_id in before:
            answer = await post_event(http, stack, api_key, event_id)
            assert answer.status == 202, answer
        await finished_executions(stack, api_key, workflow, BEFORE)
        pids = {service: stack.processes[service].pid for service in SERVICES}
        # One execution is in its action when the cut comes: the peer holds its answer.
        answer = await post_event(http, stack, api_key, peer.held)
        assert answer.status == 202, answer
        async with asyncio.timeout(30):
            await peer.holding.wait()

        # The fault: events posted at a steady pace; the broker cut off after a few, for a
        # while; the held action answered, and a workflow change saved, meanwhile.
        posts: list[asyncio.Task[Answer]] = []
        posted = CUT_AFTER + int(cut_seconds / PACE) + AFTER_HEAL
        for n in range(posted):
            if n == CUT_AFTER:
                network.cut(silently=silently)
                cut_at = time.monotonic()
            posts.append(
                asyncio.create_task(post_event(http, stack, api_key, f"{marker}-during-{n}"))
            )
            await asyncio.sleep(PACE)
            if n == CUT_AFTER + 1:
                peer.release.set()
                unready = asyncio.create_task(readiness(stack, "ingest"))
                save = asyncio.create_task(
                    call(
                        "PUT",
                        stack.url("config_api", f"/api/workflows/{workflow['id']}"),
                        api_key,
                        {"name": "partition, renamed while cut off"},
                    )
                )
            if network.cut_off and time.monotonic() - cut_at >= cut_seconds:
                network.heal()
                healed_at = time.monotonic()
        assert not network.cut_off, "the posts ended before the heal"
        answers = await asyncio.gather(*posts)
        assert await unready == 503, "ingest said it was ready without its broker"
        status, saved = await save
        assert (status, saved["version"]) == (200, 2), saved

        for answer in answers:
            assert (answer.status, answer.code) in {(202, None), (503, "broker_unavailable")}, (
                answer
            )
            assert answer.seconds < ANSWER_WITHIN, f"answered after {answer.seconds:.1f}s"
        # Posted after the cut and answered before the heal: the broker was out of reach.
        cut_off = [a for a in answers if a.sent_at > cut_at and a.sent_at + a.seconds < healed_at]
        assert cut_off, "no request was answered while the broker was cut off"
        assert all(a.status == 503 for a in cut_off), cut_off

        # Every 202 is on the topic before anything is sent again.
        accepted = {a.event_id for a in answers if a.status == 202}
        refused = [a.event_id for a in answers if a.status == 503]
        wanted = accepted | {*before, peer.held}
        on_topic = await topic_records(
            stack,
            topics.events_normalized,
            lambda found: wanted <= {record.get("id") for record in found},
            within=30,
        )
        assert wanted <= {record.get("id") for record in on_topic}

        # Every service recovers by itself; the client re-sends what got a 503.
        await wait_all_ready(stack, pids)
        for event_id in refused:
            answer = await post_event(http, stack, api_key, event_id)
            assert answer.status == 202, answer

    # The change saved while cut off reached the changelog (the outbox relay published it).
    key = f"{tenant_id}/{workflow['id']}"
    async with asyncio.timeout(30):
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE key = $1", key):
            await asyncio.sleep(0.1)
    changes = await topic_records(
        stack,
        topics.workflows_changelog,
        lambda found: any(record.get("version") == 2 for record in found),
    )
    assert {r["version"] for r in changes if r.get("workflow_id") == workflow["id"]} == {1, 2}

    event_ids = {*before, peer.held, *(a.event_id for a in answers)}
    sent = len(event_ids)
    assert sent == BEFORE + 1 + posted
    found = await finished_executions(stack, api_key, workflow, sent)
    assert set(found) == event_ids
    assert all(run["status"] == "succeeded" for run in found.values()), found
    effects = await peer.effects(sent)
    assert effects == {f"{run['id']}:0": event_id for event_id, run in found.items()}
    await wait_all_ready(stack, pids)
    return Outcome(sent, len(found), len(effects), len(peer.calls) - len(effects))


async def test_the_broker_cut_off_during_ingest_gets_503s_then_every_event_runs_once(
    running: Stack,
    network: TcpForwarder,
    peer: HoldingPeer,
    pool: Pool,
    api_key: str,
    tenant_id: str,
    ledger: Ledger,
) -> None:
    """Every connection to the broker reset, new ones refused: clients learn it at once."""
    outcome = await partition_during_ingest(
        running, network, peer, pool, api_key, tenant_id, silently=False, cut_seconds=CUT_SECONDS
    )
    ledger.record(
        "Broker unreachable during ingest (network partition: connections reset, refused)",
        held=f"every answer a 202 or a 503 within {ANSWER_WITHIN:.0f}s; every 202 on Kafka; "
        "503s re-sent; an action and a save in flight at the cut finished; no restart; "
        "each event run once",
        **asdict(outcome),
    )


async def test_the_broker_silently_out_of_reach_gets_503s_then_every_event_runs_once(
    running: Stack,
    network: TcpForwarder,
    peer: HoldingPeer,
    pool: Pool,
    api_key: str,
    tenant_id: str,
    ledger: Ledger,
) -> None:
    """Nothing gets through and nothing says so (connections open, requests unanswered): every
    wait is bounded by a timeout, and what was sent meanwhile arrives after the heal."""
    outcome = await partition_during_ingest(
        running, network, peer, pool, api_key, tenant_id, silently=True, cut_seconds=SILENCE_SECONDS
    )
    ledger.record(
        "Broker unreachable during ingest (network partition: traffic silently dropped)",
        held=f"every answer a 202 or a 503 within {ANSWER_WITHIN:.0f}s; every 202 on Kafka; "
        "503s re-sent; an action and a save in flight at the cut finished; no restart; "
        "each event run once",
        **asdict(outcome),
    )
