"""Operating the running system: the ``wf`` CLI, the exported metrics, and a real Prometheus.

The five services run as real processes (``stack``); ``wf`` runs as the installed console
script; Debian's Prometheus (``make tools``) scrapes the services and evaluates the real rule
file. Every wait is bounded and polls for the outcome, never for a time.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from ops.catalogue import SERVICES, consumer_groups
from ops.cli.kafka import consumer_lag
from services.executor.settings import ExecutorSettings
from services.ingest.settings import IngestSettings
from services.matcher.settings import MatcherSettings
from services.scheduler.settings import SchedulerSettings
from shared.contracts import EventDeadLetter, Topics
from shared.kafka import Outgoing, make_producer, publish_all
from shared.postgres import Pool
from shared.settings import KafkaSettings
from shared.testing import free_port, wait_for_port
from tests.deploy.naming import naming_problems
from tests.deploy.tools import DEPLOY, tool
from tests.e2e.conftest import SERVICES as PORT_VARIABLES
from tests.e2e.conftest import Stack, changelog_size, metric

pytestmark = pytest.mark.e2e

WF = Path(sys.executable).parent / "wf"
RULES = DEPLOY / "prometheus" / "rules" / "workflow.yml"
WAIT = 45


@dataclass
class Receiver:
    """A webhook endpoint whose answer can be switched (500 until ``fixed``)."""

    url: str
    status: int = 500
    deliveries: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def ids(self, status: int | None = None) -> list[str]:
        return [
            h["webhook-id"]
            for h, _ in self.deliveries
            if status is None or h["_status"] == str(status)
        ]

    async def wait_for(self, count: int, status: int) -> None:
        async with asyncio.timeout(WAIT):
            while len(self.ids(status)) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    sink = Receiver(url=f"http://127.0.0.1:{port}/hook")

    async def receive(request: web.Request) -> web.Response:
        headers = {**request.headers, "_status": str(sink.status)}
        sink.deliveries.append((headers, await request.json()))
        sink.arrived.set()
        return web.json_response({"ok": sink.status < 300}, status=sink.status)

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield sink
    await runner.cleanup()


@pytest.fixture(scope="module")
async def running(stack: Stack) -> Stack:
    # The workflows here set no retryCount: one attempt, so a failing destination dead-letters
    # the execution at once.
    stack.env.update({"KAFKA_LAG_INTERVAL_SECONDS": "0.5"})
    for service in PORT_VARIABLES:
        stack.start(service)
    await stack.wait_ready(within=90)
    return stack


@dataclass
class Prometheus:
    url: str

    async def query(self, expression: str) -> list[dict[str, Any]]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/api/v1/query", params={"query": expression}) as response,
        ):
            body = await response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    async def ready(self) -> bool:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/-/ready") as response:
            return response.status == 200

    async def get(self, path: str) -> Any:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}{path}") as response:
            return (await response.json())["data"]


@pytest.fixture(scope="module")
def prometheus(running: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """Debian's Prometheus scraping the stack every second, with the real rule file."""
    directory = tmp_path_factory.mktemp("prometheus")
    jobs = [
        {
            "job_name": entry.name,
            "static_configs": [
                {"targets": [f"127.0.0.1:{running.ports[entry.module.split('.')[1]]}"]}
            ],
        }
        for entry in SERVICES
    ]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": jobs,
    }
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    with (directory / "prometheus.log").open("wb") as log:
        process = subprocess.Popen(
            [
                str(tool("prometheus")),
                f"--config.file={directory / 'prometheus.yml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port("127.0.0.1", port, timeout=30, process=process)
        yield Prometheus(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Cli:
    env: dict[str, str]
    stack: Stack

    async def __call__(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            str(WF),
            *args,
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    async def json(self, *args: str) -> Any:
        code, out, err = await self(*args, "--json")
        assert code == 0, out + err
        return json.loads(out)


@pytest.fixture
def wf(running: Stack, api_key: str) -> Cli:
    return Cli(
        {
            **os.environ,
            "WF_API_URL": running.url("config_api", ""),
            "WF_API_KEY": api_key,
            "KAFKA_BOOTSTRAP_SERVERS": running.env["KAFKA_BOOTSTRAP_SERVERS"],
            "TOPIC_PREFIX": running.env["TOPIC_PREFIX"],
        },
        running,
    )


def write(tmp_path: Path, name: str, data: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


async def active_webhook_workflow(
    wf: Cli, tmp_path: Path, name: str, trigger: str, receiver: Receiver, pool: Pool, tenant: str
) -> dict[str, Any]:
    """Apply an active workflow that calls ``receiver``; return once the matcher has it."""
    definition = {
        "name": name,
        "trigger": trigger,
        "status": "active",
        "actions": [{"type": "webhook", "url": receiver.url}],
    }
    [applied] = await wf.json("apply", write(tmp_path, "workflow.json", definition))
    await wait_until_matcher_knows_every_workflow(wf.stack, pool, tenant)
    return dict(applied)


def stack_groups(stack: Stack) -> tuple[KafkaSettings, dict[str, list[str]]]:
    """The stack's Kafka settings and its consumer groups, as the services name them."""
    kafka = KafkaSettings(
        bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"],
        TOPIC_PREFIX=stack.env["TOPIC_PREFIX"],
    )  # type: ignore[call-arg]
    return kafka, consumer_groups(
        IngestSettings(kafka=kafka),
        MatcherSettings(kafka=kafka),
        ExecutorSettings(kafka=kafka),
        SchedulerSettings(kafka=kafka),
    )


async def wait_until_processed(wf: Cli) -> None:
    """Until no group of the stack lags (every record sent so far has been handled).

    Polled in-process (what ``wf lag`` reads), since a process per poll would be slow.
    """
    kafka, groups = stack_groups(wf.stack)
    async with asyncio.timeout(WAIT):
        while any(lag.lag for lag in await consumer_lag(kafka, groups)):
            await asyncio.sleep(0.2)


async def wait_until_matcher_knows_every_workflow(stack: Stack, pool: Pool, tenant: str) -> None:
    """Until the tenant's outbox is relayed and the matcher has applied the whole changelog."""
    async with asyncio.timeout(WAIT):
        while await pool.fetchval("SELECT count(*) FROM outbox WHERE key LIKE $1", f"{tenant}/%"):
            await asyncio.sleep(0.05)
        while await metric(
            stack, "matcher", "matcher_changelog_records_applied_total"
        ) < await changelog_size(stack):
            await asyncio.sleep(0.1)


async def test_the_cli_manages_workflows_and_follows_an_event_to_its_steps(
    running: Stack, wf: Cli, receiver: Receiver, tmp_path: Path, tenant_id: str, pool: Pool
) -> None:
    receiver.status = 200
    definition = {
        "name": "Offer accepted hook (wf)",
        "trigger": "private_offer.accepted",
        "conditions": {
            "logic": "AND",
            "rules": [{"field": "value", "operator": "greater_than", "value": 1000}],
        },
        "actions": [{"type": "webhook", "url": receiver.url}],
        "status": "draft",
    }
    first = write(tmp_path, "workflow.json", definition)

    [created] = await wf.json("apply", first)
    [again] = await wf.json("apply", first)
    changed = write(tmp_path, "changed.json", [{**definition, "description": "from a file"}])
    [updated] = await wf.json("apply", changed)

    assert (created["outcome"], again["outcome"], updated["outcome"]) == (
        "created",
        "unchanged",
        "updated",
    )
    assert created["id"] == again["id"] == updated["id"]
    assert (again["version"], updated["version"]) == (created["version"], created["version"] + 1)
    workflow_id = created["id"]

    code, table, _ = await wf("list")
    assert code == 0
    assert table.splitlines()[0].split() == [
        "ID",
        "NAME",
        "STATUS",
        "TRIGGER",
        "VERSION",
        "UPDATEDAT",
    ]
    assert workflow_id in table
    assert [w["status"] for w in await wf.json("list", "--status", "draft")] == ["draft"]
    assert (await wf.json("pause", workflow_id))["status"] == "paused"
    assert (await wf.json("activate", workflow_id))["status"] == "active"

    data = write(tmp_path, "data.json", {"value": 5})
    dry_run = await wf.json("test", workflow_id, "--data", data)
    assert dry_run["wouldRun"] is False
    assert dry_run["executed"] is False

    await wait_until_matcher_knows_every_workflow(running, pool, tenant_id)
    event = write(
        tmp_path,
        "event.json",
        {
            "type": "private_offer.accepted",
            "id": f"offer-{uuid.uuid4().hex[:6]}",
            "data": {"value": 150000},
        },
    )
    [sent] = await wf.json("send", event, "--tenant", tenant_id)
    assert sent["topic"] == Topics(running.env["TOPIC_PREFIX"]).events_inbound
    await receiver.wait_for(1, 200)

    async with asyncio.timeout(WAIT):
        while (
            not (runs := await wf.json("executions", workflow_id)) or runs[0]["status"] == "running"
        ):
            await asyncio.sleep(0.2)
    [run] = runs
    assert run["status"] == "succeeded"
    code, text, _ = await wf("execution", run["id"])
    assert code == 0
    assert f"execution {run['id']}: succeeded" in text
    [step] = (await wf.json("execution", run["id"]))["steps"]
    assert (step["actionType"], step["status"], step["responseStatus"]) == (
        "webhook",
        "succeeded",
        200,
    )


async def test_exit_statuses_mean_something(wf: Cli, tmp_path: Path) -> None:
    assert (await wf("execution", "exe_missing"))[0] == 3
    assert (await wf("list", "--api-key", "not-a-key"))[0] == 4
    assert (await wf("list", "--api-url", f"http://127.0.0.1:{free_port()}"))[0] == 5
    assert (await wf("apply", str(tmp_path / "nowhere.json")))[0] == 2
    invalid = write(
        tmp_path,
        "invalid.json",
        {"name": "broken", "trigger": "private_offer.accepted", "actions": []},
    )
    code, out, _ = await wf("apply", invalid)
    assert code == 1
    assert "refused" in out
    code, out, _ = await wf("--help")
    assert code == 0
    assert "Exit status" in out


async def test_replayed_execution_dead_letters_run_once_after_the_destination_is_fixed(
    running: Stack, wf: Cli, receiver: Receiver, tmp_path: Path, tenant_id: str, pool: Pool
) -> None:
    workflow = await active_webhook_workflow(
        wf, tmp_path, "Failing hook", "contract.created", receiver, pool, tenant_id
    )
    delivered_before = set(receiver.ids(200))
    receiver.status = 500  # the destination is down: the execution fails and is dead-lettered
    events = [
        {"type": "contract.created", "id": f"c-{n}-{uuid.uuid4().hex[:6]}", "data": {}}
        for n in range(2)
    ]
    await wf.json("send", write(tmp_path, "e.json", events), "--tenant", tenant_id)
    await receiver.wait_for(2, 500)
    await wait_until_processed(wf)
    failed = await wf.json("executions", workflow["id"])
    assert [e["status"] for e in failed] == ["failed", "failed"]

    receiver.status = 200  # fixed
    # An execution reads "failed" before its dead letter is acknowledged: the plan may need a
    # moment to list both.
    async with asyncio.timeout(WAIT):
        while True:
            planned = await wf.json("replay", "executions", "--dry-run")
            if {row["id"] for row in planned} >= {e["id"] for e in failed}:
                break
            await asyncio.sleep(0.2)
    replayed = await wf.json("replay", "executions", "--since", "10m")
    assert (
        {row["id"] for row in planned}
        == {row["id"] for row in replayed}
        == {e["id"] for e in failed}
    )
    assert {row["outcome"] for row in replayed} == {"replayed"}
    await receiver.wait_for(len(delivered_before) + 2, 200)
    delivered = set(receiver.ids(200)) - delivered_before
    assert {f"{row['replayedAs']}:0" for row in replayed} == delivered

    again = await wf.json("replay", "executions")  # the same dead letters, replayed again
    assert {row["replayedAs"] for row in again} == {row["replayedAs"] for row in replayed}
    await wait_until_processed(wf)
    assert len(receiver.ids(200)) == len(delivered_before) + 2  # nothing ran twice
    statuses = [e["status"] for e in await wf.json("executions", workflow["id"])]
    assert sorted(statuses) == ["failed", "failed", "succeeded", "succeeded"]


async def test_replayed_event_dead_letters_are_deduplicated_by_event_id(
    running: Stack, wf: Cli, receiver: Receiver, tmp_path: Path, tenant_id: str, pool: Pool
) -> None:
    receiver.status = 200
    await active_webhook_workflow(
        wf, tmp_path, "Renewal hook", "contract.renewed", receiver, pool, tenant_id
    )
    # Dead letters as an ingest with a since-fixed bug wrote them: the same event, twice.
    topics = Topics(running.env["TOPIC_PREFIX"])
    event = {"type": "contract.renewed", "id": f"renewal-{uuid.uuid4().hex[:8]}", "data": {}}
    letter = EventDeadLetter(
        received=json.dumps(event),
        source="native",
        tenant=tenant_id,
        error={"code": "was_a_bug", "message": "fixed since"},
    )
    settings = KafkaSettings(bootstrap_servers=running.env["KAFKA_BOOTSTRAP_SERVERS"])
    producer = make_producer(settings, client_id="test")
    await producer.start()
    try:
        # One at a time: the embedded broker's end offset counts only the first record of a
        # batch until the next one arrives, and the replay reads up to the end offset.
        for _ in range(2):
            await publish_all(producer, [Outgoing.of(topics.events_deadletter, letter)])
    finally:
        await producer.stop()
    before = len(receiver.ids(200))

    rows = [row for row in await wf.json("replay", "events") if row["id"] == event["id"]]

    assert [row["outcome"] for row in rows] == ["replayed", "duplicate"]
    await receiver.wait_for(before + 1, 200)
    await wait_until_processed(wf)
    assert len(receiver.ids(200)) == before + 1


async def test_every_consumer_group_reports_its_lag_and_every_metric_is_well_named(
    running: Stack, wf: Cli
) -> None:
    _, groups = stack_groups(running)
    rows = await wf.json("lag")
    assert {(row["group"], row["topic"]) for row in rows} == {
        (group, topic) for group, topics in groups.items() for topic in topics
    }
    exported: set[tuple[str, str]] = set()
    async with aiohttp.ClientSession() as http:
        for service in PORT_VARIABLES:
            async with http.get(running.url(service, "/metrics")) as response:
                text = await response.text()
            for family in text_string_to_metric_families(text):
                labels = {key for sample in family.samples for key in sample.labels} - {
                    "le",
                    "quantile",
                }
                assert naming_problems(family.name, family.type, labels) == [], (
                    service,
                    family.name,
                )
                if family.name == "kafka_consumer_group_lag":
                    exported |= {(s.labels["group"], s.labels["topic"]) for s in family.samples}
    # faust's group (the matcher's) included: every service exports the lag of its groups.
    assert exported == {(group, topic) for group, topics in groups.items() for topic in topics}


async def test_a_real_prometheus_scrapes_the_services_and_evaluates_the_alert_rules(
    running: Stack, prometheus: Prometheus, wf: Cli, tmp_path: Path, tenant_id: str
) -> None:
    async with asyncio.timeout(WAIT):
        while not await prometheus.ready():
            await asyncio.sleep(0.2)
        while len(await prometheus.query("up == 1")) < len(SERVICES):
            await asyncio.sleep(0.5)
        baseline = await prometheus.query("sum(ingest_events_deadlettered_total)")

    # Two inputs ingest must refuse (no type): dead letters, and a counter that moves.
    bad = [{"tenantId": tenant_id, "data": {"n": n}} for n in range(2)]
    await wf.json("send", write(tmp_path, "bad.json", bad))

    start = float(baseline[0]["value"][1]) if baseline else 0.0
    async with asyncio.timeout(WAIT):
        while (
            not (moved := await prometheus.query("sum(ingest_events_deadlettered_total)"))
            or float(moved[0]["value"][1]) < start + 2
        ):
            await asyncio.sleep(0.5)

    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    [dead_letters] = [rule for rule in rules if rule.get("alert") == "EventsDeadLettered"]
    async with asyncio.timeout(WAIT):
        while not (firing := await prometheus.query(dead_letters["expr"])):
            await asyncio.sleep(0.5)
    assert {series["metric"]["code"] for series in firing} >= {"invalid_event"}
    assert not await prometheus.query(
        next(rule["expr"] for rule in rules if rule.get("alert") == "ServiceDown")
    )
    loaded = await prometheus.get("/api/v1/rules")
    health = {rule["name"]: rule["health"] for group in loaded["groups"] for rule in group["rules"]}
    assert len(health) == len(rules)
    async with asyncio.timeout(WAIT):
        while "EventsDeadLettered" not in {
            alert["labels"]["alertname"]
            for alert in (await prometheus.get("/api/v1/alerts"))["alerts"]
        }:
            await asyncio.sleep(0.5)
    assert set(health.values()) == {"ok"}, health
