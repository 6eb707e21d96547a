"""Soak (issue 12, BENCHMARKS.md R1): the five services as processes at a steady event rate for a
long time, with thousands of workflows across hundreds of tenants; prints figures, never passes
or fails.

``python -m bench soak --minutes 30 --rate 20`` (``make bench-soak``): tenants and their API keys
are made in the database, the workflows are created through the config API (each a webhook to the
loopback sink, ``bench.sink``, behind no conditions or one or two rules of mixed shapes),
then single events go to ingest's ``POST /v1/events`` at ``--rate`` per second (open loop) for
``--minutes``, every 50th request resending an earlier event with the same id. Every
``--sample-seconds`` it notes each consumer group's lag (the broker's end offsets against the
group's committed ones, as ``wf lag`` reads them), the RSS of each service process, the events
sent and the executions recorded. After the last event it waits for the pipeline to drain and
accounts for every event: the executions it should have made (its tenant's workflows whose
conditions it meets, by the evaluator the matcher uses) against those in the execution history,
and the effects seen at the sink (distinct ``webhook-id``s; a redelivery with the same id is a
duplicate absorbed).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from bench.executor import sink_process, sink_stats
from bench.pipeline import metric, open_loop
from ops.catalogue import consumer_groups
from services.executor.settings import ExecutorSettings
from services.ingest.settings import IngestSettings
from services.matcher.settings import MatcherSettings
from services.scheduler.settings import SchedulerSettings
from shared import tenancy
from shared.kafka import make_admin, make_consumer
from shared.kafka.lag import read_lag
from shared.postgres import Pool, create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import free_port
from shared.workflows import ConditionGroup, WorkflowDefinition, evaluate

SERVICES = {
    "config_api": "API_PORT",
    "ingest": "INGEST_PORT",
    "matcher": "MATCHER_PORT",
    "executor": "EXECUTOR_PORT",
    "scheduler": "SCHEDULER_PORT",
}
TRIGGER = "private_offer.accepted"
PRODUCTS = [f"Product-{n}" for n in range(8)]
MARKETPLACES = ["aws", "azure", "gcp"]


# --- the workload --------------------------------------------------------------------------------


def conditions(rng: random.Random) -> dict[str, Any] | None:
    """1-3 rules, AND/OR mixed, equality, ``in``, thresholds; one workflow in ten has none (it
    runs for every event of its tenant)."""
    roll = rng.random()
    if roll < 0.1:
        return None
    if roll < 0.5:
        return {
            "rules": [{"field": "productName", "operator": "equals", "value": rng.choice(PRODUCTS)}]
        }
    if roll < 0.8:
        return {
            "logic": "AND",
            "rules": [
                {"field": "productName", "operator": "in", "value": rng.sample(PRODUCTS, 2)},
                {"field": "value", "operator": "greater_than", "value": rng.randrange(200_000)},
            ],
        }
    return {
        "logic": "OR",
        "rules": [
            {"field": "marketplace", "operator": "equals", "value": rng.choice(MARKETPLACES)},
            {"field": "value", "operator": "less_than", "value": rng.randrange(50_000)},
        ],
    }


def event_data(rng: random.Random, number: int) -> dict[str, Any]:
    return {
        "customerName": f"Customer {rng.randrange(10_000)}",
        "productName": rng.choice(PRODUCTS),
        "marketplace": rng.choice(MARKETPLACES),
        "vendor": rng.choice(MARKETPLACES),
        "value": rng.randrange(250_000),
        "offerName": "Annual plan",
        "sequence": number,
    }


@dataclass
class Tenant:
    id: str
    key: str
    workflows: list[tuple[str, ConditionGroup | None]] = field(default_factory=list)
    """Each workflow's id and conditions."""

    def matching(self, data: dict[str, Any]) -> list[str]:
        return [wf for wf, rule in self.workflows if rule is None or evaluate(rule, data)]


# --- what is sampled -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    at: float
    """Seconds since the load started."""
    lag: dict[str, int]
    """Records behind, per consumer group (summed over its partitions)."""
    rss: dict[str, int]
    """Bytes, per service process."""
    sent: int
    recorded: int


def rss_bytes(pid: int) -> int:
    """The resident set of process ``pid`` (``VmRSS`` in ``/proc``), 0 when it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass
    return 0


class LagReader:
    """Each consumer group's lag, summed over its partitions, on one pair of clients."""

    def __init__(self, kafka: KafkaSettings, groups: dict[str, list[str]]) -> None:
        self.groups = groups
        self._admin = make_admin(kafka, client_id="soak-lag")
        self._consumer = make_consumer(kafka, group_id=None, client_id="soak-lag")

    async def __aenter__(self) -> LagReader:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def read(self) -> dict[str, int]:
        lags = {}
        for group, topics in self.groups.items():
            partitions = await read_lag(self._admin, self._consumer, group, topics)
            lags[group] = sum(p.lag for p in partitions)
        return lags


# --- the processes -------------------------------------------------------------------------------


@contextlib.contextmanager
def services(env: dict[str, str], logs: Path) -> Iterator[dict[str, tuple[int, int]]]:
    """The five services as processes; yields each one's (port, pid)."""
    started: dict[str, tuple[int, subprocess.Popen[bytes]]] = {}
    try:
        for name, variable in SERVICES.items():
            port = free_port()
            with (logs / f"{name}.log").open("ab") as log:
                started[name] = (
                    port,
                    subprocess.Popen(
                        [sys.executable, "-m", f"services.{name}"],
                        env={**env, variable: str(port)},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    ),
                )
        yield {name: (port, process.pid) for name, (port, process) in started.items()}
    finally:
        for _, process in started.values():
            process.send_signal(signal.SIGTERM)
        for _, process in started.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def wait_ready(ports: dict[str, int], within: float = 180) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        for name, port in ports.items():
            while True:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} not ready after {within}s; see its log")
                await asyncio.sleep(0.3)


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Sending:
    """What the sender did and what each accepted event should make."""

    sent: int = 0
    resent: int = 0
    duplicates_absorbed: int = 0
    """Resent events ingest answered as duplicates (not published again)."""
    refused: Counter[str] = field(default_factory=Counter)
    """Requests not answered 202, by status (or exception)."""
    expected: dict[str, set[str]] = field(default_factory=dict)
    """Event id → the workflows it should run."""
    bodies: dict[int, tuple[Tenant, dict[str, Any]]] = field(default_factory=dict)


async def make_tenants(pool: Pool, run: str, count: int) -> list[Tenant]:
    tenants = []
    for number in range(count):
        tenant_id = f"{run}-{number:04d}"
        await tenancy.create_tenant(pool, tenant_id)
        tenants.append(Tenant(tenant_id, await tenancy.create_api_key(pool, tenant_id)))
    return tenants


async def create_workflows(
    api: str, sink: str, tenants: Sequence[Tenant], total: int, *, seed: int = 12
) -> None:
    """``total`` workflows spread over ``tenants`` in turn, through the config API."""
    rng = random.Random(seed)
    plans = [(tenants[n % len(tenants)], n, conditions(rng)) for n in range(total)]
    gate = asyncio.Semaphore(16)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as http:

        async def create(tenant: Tenant, number: int, rule: dict[str, Any] | None) -> None:
            body: dict[str, Any] = {
                "name": f"soak-{number:05d}",
                "trigger": TRIGGER,
                "actions": [{"type": "webhook", "url": f"{sink}/hook"}],
                "active": True,
            }
            if rule is not None:
                body["conditions"] = rule
            async with (
                gate,
                http.post(
                    f"{api}/api/workflows",
                    json=body,
                    headers={"Authorization": f"Bearer {tenant.key}"},
                ) as response,
            ):
                created = await response.json()
                if response.status != 201:
                    raise RuntimeError(f"workflow {number} not created: {created}")
            tenant.workflows.append(
                (created["id"], WorkflowDefinition.model_validate(body).conditions)
            )

        await asyncio.gather(*(create(*plan) for plan in plans))


async def recorded(pool: Pool, tenant_ids: list[str]) -> int:
    """Executions that finished, in the executor's published history, for the run's tenants."""
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM executor_published.executions"
            " WHERE tenant_id = ANY($1::text[]) AND status NOT IN ('running', 'waiting')",
            tenant_ids,
        )
    )


async def send_events(
    ingest: str,
    tenants: Sequence[Tenant],
    *,
    rate: float,
    seconds: float,
    duplicate_every: int,
    sending: Sending,
    prefix: str,
    seed: int = 13,
) -> None:
    """Single events at ``rate`` per second, open loop, each to a tenant chosen at random; every
    ``duplicate_every``-th request resends the event sent ``duplicate_every`` requests earlier."""
    rng = random.Random(seed)
    ticks = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:

        async def post(tenant: Tenant, event: dict[str, Any]) -> dict[str, Any] | None:
            try:
                async with http.post(
                    f"{ingest}/v1/events",
                    json=event,
                    headers={"Authorization": f"Bearer {tenant.key}"},
                    timeout=aiohttp.ClientTimeout(total=30),
                ) as response:
                    body = await response.json(content_type=None)
                    if response.status != 202:
                        sending.refused[str(response.status)] += 1
                        return None
                    answer: dict[str, Any] = body
                    return answer
            except (aiohttp.ClientError, TimeoutError) as error:
                sending.refused[type(error).__name__] += 1
                return None

        async def send() -> None:
            nonlocal ticks
            tick = ticks
            ticks += 1
            if duplicate_every and tick % duplicate_every == duplicate_every - 1 and sending.bodies:
                earlier = sending.bodies.pop(min(sending.bodies))
                sending.resent += 1
                answer = await post(*earlier)
                if answer is not None and answer["duplicates"] == 1:
                    sending.duplicates_absorbed += 1
                elif answer is not None:  # its first send was refused: this one counts
                    tenant, event = earlier
                    sending.expected[event["id"]] = set(tenant.matching(event["data"]))
                return
            tenant = tenants[rng.randrange(len(tenants))]
            number = sending.sent
            sending.sent += 1
            event = {
                "type": TRIGGER,
                "id": f"{prefix}evt-{number:08d}",
                "data": event_data(rng, number),
            }
            if duplicate_every:
                sending.bodies[number] = (tenant, event)
                while len(sending.bodies) > duplicate_every:
                    sending.bodies.pop(min(sending.bodies))
            answer = await post(tenant, event)
            if answer is not None:
                sending.expected[event["id"]] = set(tenant.matching(event["data"]))

        await open_loop(rate, seconds, send)


def short(group: str, tag: str) -> str:
    """A consumer group's name without the run's tag (``executor-soak1a2b3c`` → ``executor``)."""
    return group.replace(f"{tag}.", "").replace(f"-{tag}", "")


def grew(values: Sequence[float], *, absolute: float) -> bool:
    """Whether the last third of ``values`` is, on average, above the first third by more than
    half of it and more than ``absolute``."""
    third = max(1, len(values) // 3)
    first, last = statistics.fmean(values[:third]), statistics.fmean(values[-third:])
    return last - first > max(0.5 * first, absolute)


def slope_per_minute(times: Sequence[float], values: Sequence[float]) -> float:
    if len(times) < 2:
        return 0.0
    slope, _ = statistics.linear_regression(times, values)
    return slope * 60


def band(values: Sequence[float]) -> float:
    """Half the range of ``values`` as a percentage of its midpoint: they lie within ±band %."""
    low, high = min(values), max(values)
    return (high - low) / (high + low) * 100 if high + low else 0.0


async def run(
    bootstrap: str,
    database_url: str,
    *,
    minutes: float = 30,
    rate: float = 20,
    tenants: int = 200,
    workflows: int = 2000,
    sample_seconds: float = 30,
    warmup_minutes: float = 5,
    duplicate_every: int = 50,
    partitions: int = 4,
    drain_seconds: float = 600,
) -> None:
    tag = f"soak{uuid.uuid4().hex[:6]}"
    prefix = f"{tag}."
    logs = Path(tempfile.mkdtemp(prefix="soak-logs-"))
    env = {
        **{
            k: v
            for k, v in os.environ.items()
            if not k.startswith(
                ("KAFKA_", "API_", "INGEST_", "MATCHER_", "EXECUTOR_", "SCHEDULER_")
            )
        },
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "TOPIC_PREFIX": prefix,
        "KAFKA_TOPIC_PARTITIONS": str(partitions),
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "LOG_LEVEL": "WARNING",
        "INGEST_CONSUMER_GROUP": f"ingest-{tag}",
        "EXECUTOR_CONSUMER_GROUP": f"executor-{tag}",
        "EXECUTOR_EXIT_CONSUMER_GROUP": f"executor-exits-{tag}",
        "SCHEDULER_CONSUMER_GROUP": f"scheduler-{tag}",
    }
    kafka = KafkaSettings(bootstrap_servers=bootstrap, TOPIC_PREFIX=prefix)
    groups = consumer_groups(
        IngestSettings(kafka=kafka, consumer_group=env["INGEST_CONSUMER_GROUP"]),
        MatcherSettings(kafka=kafka),
        ExecutorSettings(
            kafka=kafka,
            consumer_group=env["EXECUTOR_CONSUMER_GROUP"],
            exit_consumer_group=env["EXECUTOR_EXIT_CONSUMER_GROUP"],
        ),
        SchedulerSettings(kafka=kafka, consumer_group=env["SCHEDULER_CONSUMER_GROUP"]),
    )
    pool = await create_pool(
        PostgresSettings(database_url=SecretStr(database_url), db_pool_max_size=4),
        application_name="bench-soak",
    )
    print(
        f"soak  {minutes:g} min at {rate:g} events/s, {workflows:,} workflows over {tenants} "
        f"tenants, a sample every {sample_seconds:g} s; service logs in {logs}",
        flush=True,
    )
    try:
        await tenancy.migrate(pool)
        made = await make_tenants(pool, tag, tenants)
        tenant_ids = [t.id for t in made]
        with sink_process() as sink, services(env, logs) as running:
            ports = {name: port for name, (port, _) in running.items()}
            pids = {name: pid for name, (_, pid) in running.items()}
            await wait_ready(ports)
            started = time.perf_counter()
            await create_workflows(f"http://127.0.0.1:{ports['config_api']}", sink, made, workflows)
            created_in = time.perf_counter() - started
            while (
                await metric(ports["matcher"], "matcher_changelog_records_applied_total")
                < workflows
            ):
                await asyncio.sleep(0.5)
            print(
                f"soak  {workflows:,} workflows created through the API in {created_in:.0f} s "
                f"and known to the matcher after {time.perf_counter() - started:.0f} s",
                flush=True,
            )
            samples, finished, sending = await load(
                kafka,
                groups,
                pool,
                tenant_ids,
                made,
                pids,
                ports,
                sink,
                minutes=minutes,
                rate=rate,
                sample_seconds=sample_seconds,
                duplicate_every=duplicate_every,
                tag=tag,
                drain_seconds=drain_seconds,
            )
            stats = await sink_stats(sink)
            rows = await pool.fetch(
                "SELECT workflow_id, event->>'id' AS event_id, status"
                " FROM executor_published.executions WHERE tenant_id = ANY($1::text[])",
                tenant_ids,
            )
        report(
            samples,
            finished,
            sending,
            rows,
            stats,
            minutes=minutes,
            warmup_minutes=warmup_minutes,
            tag=tag,
        )
    finally:
        await pool.close()


async def load(
    kafka: KafkaSettings,
    groups: dict[str, list[str]],
    pool: Pool,
    tenant_ids: list[str],
    tenants: list[Tenant],
    pids: dict[str, int],
    ports: dict[str, int],
    sink: str,
    *,
    minutes: float,
    rate: float,
    sample_seconds: float,
    duplicate_every: int,
    tag: str,
    drain_seconds: float,
) -> tuple[list[Sample], Sample, Sending]:
    """Send for ``minutes`` while sampling; then wait for the drain. Returns the samples taken
    under load, the one after the drain, and what was sent."""
    sending = Sending()
    samples: list[Sample] = []
    async with LagReader(kafka, groups) as lags:
        started = time.perf_counter()

        async def sample() -> Sample:
            taken = Sample(
                at=time.perf_counter() - started,
                lag=await lags.read(),
                rss={name: rss_bytes(pid) for name, pid in pids.items()},
                sent=sending.sent,
                recorded=await recorded(pool, tenant_ids),
            )
            print(
                f"  {taken.at / 60:6.1f} min  sent {taken.sent:>8,}  recorded {taken.recorded:>8,}"
                "  lag "
                + " ".join(f"{short(g, tag)}={n}" for g, n in taken.lag.items())
                + "  RSS MiB "
                + " ".join(f"{s}={b / 2**20:.0f}" for s, b in taken.rss.items()),
                flush=True,
            )
            return taken

        async def sampler() -> None:
            while True:
                await asyncio.sleep(sample_seconds)
                samples.append(await sample())

        sampling = asyncio.create_task(sampler())
        try:
            await send_events(
                f"http://127.0.0.1:{ports['ingest']}",
                tenants,
                rate=rate,
                seconds=minutes * 60,
                duplicate_every=duplicate_every,
                sending=sending,
                prefix=f"{tag}.",
            )
        finally:
            sampling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampling
        expected = sum(len(w) for w in sending.expected.values())
        print(f"soak  load done; draining (expecting {expected:,} executions)", flush=True)
        deadline = time.monotonic() + drain_seconds
        last, still = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = await recorded(pool, tenant_ids)
            if count >= expected and (await sink_stats(sink))["distinct"] >= expected:
                break
            if count != last:
                last, still = count, time.monotonic()
            elif time.monotonic() - still > 120:
                break  # nothing new for two minutes: what is missing is lost
            await asyncio.sleep(1)
        await asyncio.sleep(2)  # let the groups commit what they finished
        finished = await sample()
    return samples, finished, sending


def report(
    samples: list[Sample],
    finished: Sample,
    sending: Sending,
    rows: Sequence[Any],
    stats: dict[str, Any],
    *,
    minutes: float,
    warmup_minutes: float,
    tag: str,
) -> None:
    """The figures: lag and RSS over the run, then every event accounted for."""
    if not samples:
        samples = [finished]
    times = [s.at for s in samples]
    print(f"\nsoak  consumer lag (records) over {len(samples)} samples under load")
    print(
        f"      {'group':<34}{'first':>8}{'last':>8}{'max':>8}{'drained':>9}  {'trend':>12}  grew?"
    )
    for group in samples[0].lag:
        values = [s.lag[group] for s in samples]
        slope = slope_per_minute(times, values)
        print(
            f"      {short(group, tag):<34}{values[0]:>8,}{values[-1]:>8,}{max(values):>8,}"
            f"{finished.lag[group]:>9,}  {slope:>+8.1f}/min  {'yes' if grew(values, absolute=100) else 'no'}"
        )
    warm = min(warmup_minutes, minutes / 3) * 60
    steady = [s for s in samples if s.at >= warm] or samples
    print(
        f"\nsoak  RSS (MiB) per service; band = half the range over its midpoint, over all samples "
        f"and (steady) after {warm / 60:.1f} min of warm-up ({len(steady)} samples), trend over "
        "those"
    )
    print(
        f"      {'service':<12}{'first':>8}{'last':>8}{'min':>8}{'max':>8}{'band':>9}{'steady':>9}"
        "    trend  within ±10 %?"
    )
    for service in samples[0].rss:
        mib = [s.rss[service] / 2**20 for s in samples]
        settled = [s.rss[service] / 2**20 for s in steady]
        print(
            f"      {service:<12}{mib[0]:>8.0f}{mib[-1]:>8.0f}{min(mib):>8.0f}"
            f"{max(mib):>8.0f}{band(mib):>8.1f}%{band(settled):>8.1f}%"
            f"{slope_per_minute([s.at for s in steady], settled):>+7.2f}/min"
            f"  {'yes' if band(settled) <= 10 else 'no'}"
        )
    expected = {(event, wf) for event, wfs in sending.expected.items() for wf in wfs}
    found = Counter((row["workflow_id"], row["event_id"]) for row in rows)
    found_pairs = {(event, wf) for wf, event in found}
    statuses = Counter(row["status"] for row in rows)
    lost = expected - found_pairs
    unexpected = found_pairs - expected
    twice = sum(n - 1 for n in found.values() if n > 1)
    per_workflow: dict[str, int] = defaultdict(int)
    for _, wf in expected:
        per_workflow[wf] += 1
    effects_missing = sum(
        max(0, n - stats["per_workflow"].get(wf, 0)) for wf, n in per_workflow.items()
    )
    print(
        f"\nsoak  events sent {sending.sent:,} ({sending.sent / (minutes * 60):.1f}/s), accepted "
        f"{len(sending.expected):,}, refused {sum(sending.refused.values()):,}"
        + (f" {dict(sending.refused)}" if sending.refused else "")
    )
    print(
        f"      resent with the same id {sending.resent:,}: absorbed by ingest's dedup "
        f"{sending.duplicates_absorbed:,}"
    )
    print(
        f"      executions expected {len(expected):,} ({len(expected) / (minutes * 60):.1f}/s), "
        f"found {len(found_pairs):,} "
        f"({', '.join(f'{k} {v:,}' for k, v in sorted(statuses.items()))})"
    )
    print(
        f"      lost {len(lost):,}{' = 0' if not lost else ''}; unexpected {len(unexpected):,}; "
        f"recorded twice {twice:,}"
    )
    print(
        f"      effects at the sink: distinct {stats['distinct']:,}, deliveries "
        f"{stats['deliveries']:,} (duplicates absorbed by webhook-id "
        f"{stats['deliveries'] - stats['distinct']:,}); executions without their effect "
        f"{effects_missing:,}"
    )
    if lost:
        print(f"      first lost: {sorted(lost)[:5]}")
