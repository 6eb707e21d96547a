"""Executor benchmarks X1-X3 (BENCHMARKS.md): webhook throughput per core against a loopback sink,
isolation of a throttled workflow, rate-limit exactness across forced rebalances.

The executor runs in this process (so its CPU time is this process's), the sink in its own
(``bench.sink``); the scheduler's timers are stood in for by ``TimerRelay``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from bench.pipeline import e1_end_to_end
from services.executor.adapters.postgres import migrate
from services.executor.domain import admissions_over_limit
from services.executor.service import ExecutorService
from services.executor.settings import ExecutorSettings, WebhookSettings
from shared.contracts import ExecutionRequest
from shared.postgres import Pool, create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import (
    EmbeddedBroker,
    EmbeddedPostgres,
    TimerRelay,
    free_port,
    produce_requests,
    wait_for_port,
    webhook_requests,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # noqa: S105 - a benchmark's own


@contextlib.contextmanager
def sink_process() -> Iterator[str]:
    """The loopback sink; yields its base URL."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.sink", str(port)])
    try:
        wait_for_port("127.0.0.1", port, timeout=15, process=process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


async def sink_stats(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/stats") as response:
        stats: dict[str, Any] = await response.json()
        return stats


def executor_settings(
    kafka: KafkaSettings, postgres: PostgresSettings, **overrides: Any
) -> ExecutorSettings:
    fields: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "kafka": kafka,
        "postgres": postgres,
        "consumer_group": f"bench-executor-{kafka.topic_prefix}",
        "exit_consumer_group": f"bench-exits-{kafka.topic_prefix}",
        "max_poll_records": 500,
        "webhook": WebhookSettings(signing_secret=SecretStr(SECRET), allow_private_networks=True),
    }
    return ExecutorSettings(**(fields | overrides))


def requests_for(
    tenant: str, url: str, workflow_id: str, count: int, **definition: Any
) -> list[ExecutionRequest]:
    """Requests with ~1 KB events."""
    data = {"customerName": "Globex", "value": 150000, "pad": "x" * 600}
    return webhook_requests(tenant, url, workflow_id, count, data=data, **definition)


def interleaved(*groups: list[ExecutionRequest]) -> list[ExecutionRequest]:
    """One request of each group in turn, as a mixed stream arrives."""
    out: list[ExecutionRequest] = []
    longest = max(len(g) for g in groups)
    for n in range(longest):
        out.extend(g[n] for g in groups if n < len(g))
    return out


async def produce(kafka: KafkaSettings, requests: list[ExecutionRequest]) -> None:
    await produce_requests(kafka.bootstrap_servers, kafka.topic_prefix, requests)


def fresh_kafka(bootstrap: str, fast: dict[str, Any]) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        TOPIC_PREFIX=f"bench{uuid.uuid4().hex[:6]}.",
        topic_partitions=4,
        **fast,
    )


@dataclass
class Run:
    actions: int
    seconds: float
    cpu_seconds: float

    @property
    def per_second(self) -> float:
        return self.actions / self.seconds

    @property
    def per_cpu_second(self) -> float:
        return self.actions / self.cpu_seconds


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def count_finished(pool: Pool, tenant: str, workflows: list[str]) -> int:
    return int(
        await pool.fetchval(
            "SELECT count(*) FROM executions WHERE tenant_id = $1 AND workflow_id = ANY($2)"
            " AND status = 'succeeded'",
            tenant,
            workflows,
        )
    )


@contextlib.asynccontextmanager
async def running_executor(settings: ExecutorSettings) -> AsyncIterator[ExecutorService]:
    service = ExecutorService(settings)
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def timed_run(
    kafka: KafkaSettings,
    postgres: PostgresSettings,
    pool: Pool,
    tenant: str,
    measured: list[ExecutionRequest],
    extra: list[ExecutionRequest],
) -> Run:
    """Produce ``measured`` and ``extra`` mixed, start an executor, and time until every
    ``measured`` execution succeeded (its CPU time over the same span)."""
    await produce(kafka, interleaved(measured, extra) if extra else measured)
    workflows = sorted({r.workflow_id for r in measured})
    async with running_executor(executor_settings(kafka, postgres)):
        started, cpu = time.perf_counter(), cpu_seconds()
        while await count_finished(pool, tenant, workflows) < len(measured):
            await asyncio.sleep(0.05)
        return Run(len(measured), time.perf_counter() - started, cpu_seconds() - cpu)


async def x1_throughput(
    bootstrap: str, fast: dict[str, Any], postgres: PostgresSettings, actions: int
) -> Run:
    """X1: webhook actions/s of one executor process against a loopback sink."""
    pool = await create_pool(postgres, application_name="bench")
    try:
        await migrate(pool)
        with sink_process() as sink:
            tenant = f"bench-{uuid.uuid4().hex[:6]}"
            requests = interleaved(
                *(
                    requests_for(
                        tenant, f"{sink}/hook", f"wf-x1-{w}-{uuid.uuid4().hex[:6]}", actions // 20
                    )
                    for w in range(20)
                )
            )
            return await timed_run(
                fresh_kafka(bootstrap, fast), postgres, pool, tenant, requests, []
            )
    finally:
        await pool.close()


async def fill_window_at_one_per_second(
    pool: Pool, tenant: str, workflow_id: str, limit: int
) -> None:
    """Admissions spread evenly over the last hour: one leaves the window every 3600/limit s,
    so the workflow is held to that rate from the start."""
    now = await pool.fetchval("SELECT clock_timestamp()")
    step = timedelta(hours=1) / limit
    await pool.executemany(
        "INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, trigger_type,"
        " event, status, admitted_at, finished_at)"
        " VALUES ($1, $2, $3, 1, 'private_offer.accepted', '{}', 'succeeded', $4, $4)",
        [
            (
                f"exe_fill_{uuid.uuid4().hex}",
                tenant,
                workflow_id,
                now - timedelta(hours=1) + step * (n + 1),
            )
            for n in range(limit)
        ],
    )


async def x2_isolation(
    bootstrap: str, fast: dict[str, Any], postgres: PostgresSettings, actions: int, action: str
) -> tuple[Run, Run]:
    """X2: throughput of 9 workflows alone, then with a 10th throttled to 1/s (3600 per hour,
    window full) sending as many requests as each of the others, mixed into the same stream."""
    pool = await create_pool(postgres, application_name="bench")
    try:
        await migrate(pool)
        with sink_process() as sink:
            runs = []
            for throttled_too in (False, True):
                kafka = fresh_kafka(bootstrap, fast)
                tenant = f"bench-{uuid.uuid4().hex[:6]}"
                per_workflow = actions // 9
                others = interleaved(
                    *(
                        requests_for(
                            tenant,
                            f"{sink}/hook",
                            f"wf-x2-{w}-{uuid.uuid4().hex[:6]}",
                            per_workflow,
                        )
                        for w in range(9)
                    )
                )
                extra: list[ExecutionRequest] = []
                if throttled_too:
                    throttled = f"wf-x2-throttled-{uuid.uuid4().hex[:6]}"
                    await fill_window_at_one_per_second(pool, tenant, throttled, 3600)
                    extra = requests_for(
                        tenant,
                        f"{sink}/hook",
                        throttled,
                        per_workflow,
                        settings={"maxExecutionsPerHour": 3600, "throttleAction": action},
                    )
                async with TimerRelay(kafka):
                    runs.append(await timed_run(kafka, postgres, pool, tenant, others, extra))
            return runs[0], runs[1]
    finally:
        await pool.close()


async def x3_exactness(
    bootstrap: str,
    fast: dict[str, Any],
    postgres: PostgresSettings,
    actions: int,
    replicas: int = 3,
) -> dict[str, Any]:
    """X3: workflows limited to 100 per hour (drop) get 1.5 x their limit in requests while
    executors join and leave the group (forced rebalances); count executions admitted and
    actions delivered beyond each workflow's limit in any rolling hour."""
    limit = 100
    workflows = max(1, actions // limit)
    pool = await create_pool(postgres, application_name="bench")
    try:
        await migrate(pool)
        with sink_process() as sink:
            kafka = fresh_kafka(bootstrap, fast)
            tenant = f"bench-{uuid.uuid4().hex[:6]}"
            ids = [f"wf-x3-{w}-{uuid.uuid4().hex[:6]}" for w in range(workflows)]
            requests = interleaved(
                *(
                    requests_for(
                        tenant,
                        f"{sink}/hook",
                        workflow_id,
                        limit * 3 // 2,
                        settings={"maxExecutionsPerHour": limit, "throttleAction": "drop"},
                    )
                    for workflow_id in ids
                )
            )
            await produce(kafka, requests)
            settings = executor_settings(kafka, postgres, lease_seconds=5, shutdown_grace_seconds=2)
            rebalances = 0
            started = time.perf_counter()
            async with TimerRelay(kafka), contextlib.AsyncExitStack() as stack:
                live = [await stack.enter_async_context(running_executor(settings))]
                while await pool.fetchval(
                    "SELECT count(*) FROM executions WHERE tenant_id = $1 AND status IN ('succeeded', 'throttled')",
                    tenant,
                ) < len(requests):
                    await asyncio.sleep(3)
                    # Force a rebalance: a replica joins, or one leaves (never the last).
                    if len(live) < replicas:
                        live.append(ExecutorService(settings))
                        await live[-1].start()
                    else:
                        leaving = live.pop(0)
                        await leaving.stop()
                    rebalances += 1
                for service in live:
                    await service.stop()
            seconds = time.perf_counter() - started
            rows = await pool.fetch(
                "SELECT workflow_id, admitted_at FROM executions WHERE tenant_id = $1 AND admitted_at IS NOT NULL",
                tenant,
            )
            admitted: dict[str, list[Any]] = {w: [] for w in ids}
            for row in rows:
                admitted[row["workflow_id"]].append(row["admitted_at"])
            stats = await sink_stats(sink)
            return {
                "requests": len(requests),
                "actions": stats["distinct"],
                "deliveries": stats["deliveries"],
                "over_limit": sum(
                    admissions_over_limit(times, limit) for times in admitted.values()
                ),
                "delivered_over_limit": sum(
                    max(0, count - limit) for count in stats["per_workflow"].values()
                ),
                "admitted": len(rows),
                "expected": workflows * limit,
                "rebalances": rebalances,
                "seconds": seconds,
            }
    finally:
        await pool.close()


PARTS = ("X1", "X2", "X3", "E1")


async def main(
    parts: set[str], rounds: int, x1_actions: int, x3_actions: int, e1_rate: float
) -> None:
    """``python -m bench.executor``: the parts asked for, on the broker and database of the
    environment (``KAFKA_BOOTSTRAP_SERVERS``, ``DATABASE_URL``) or embedded ones."""
    logging.basicConfig(level=logging.WARNING)
    with contextlib.ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or (
            stack.enter_context(EmbeddedBroker()).bootstrap_servers
        )
        database_url = os.environ.get("DATABASE_URL") or stack.enter_context(EmbeddedPostgres()).url
        await run(
            bootstrap,
            database_url,
            parts=parts,
            rounds=rounds,
            x1_actions=x1_actions,
            x3_actions=x3_actions,
            e1_rate=e1_rate,
        )


async def run(
    bootstrap: str,
    database_url: str,
    *,
    parts: Collection[str] = PARTS,
    rounds: int = 3,
    x1_actions: int = 10_000,
    x3_actions: int = 100_000,
    e1_rate: float = 1000,
) -> None:
    """X1-X3 and E1 (those in ``parts``) on the broker at ``bootstrap`` and ``database_url``;
    ``python -m bench executor`` (``make bench-executor``) runs them all with the defaults."""
    fast = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500, "fetch_max_wait_ms": 10}
    postgres = PostgresSettings(database_url=SecretStr(database_url), db_pool_max_size=20)
    if "X1" in parts:
        runs = [await x1_throughput(bootstrap, fast, postgres, x1_actions) for _ in range(rounds)]
        print(
            f"X1  webhook actions, one executor     {statistics.median(r.per_second for r in runs):>8,.0f} /s wall"
            f"   {statistics.median(r.per_cpu_second for r in runs):>8,.0f} /s per CPU-second of the executor"
            f"   ({x1_actions} actions, median of {rounds})"
        )
    for action in ("queue", "drop"):
        if "X2" not in parts:
            break
        pairs = [
            await x2_isolation(bootstrap, fast, postgres, x1_actions, action) for _ in range(rounds)
        ]
        ratio = statistics.median(with_.per_second / alone.per_second for alone, with_ in pairs)
        cpu = statistics.median(
            with_.per_cpu_second / alone.per_cpu_second for alone, with_ in pairs
        )
        print(
            f"X2  others beside a workflow at 1/s ({action})  {ratio:.3f} x throughput alone (wall),"
            f" {cpu:.3f} x per CPU-second  (median of {rounds})"
        )
    if "X3" in parts:
        result = await x3_exactness(bootstrap, fast, postgres, x3_actions)
        print(
            f"X3  {result['actions']:,} actions ({result['requests']:,} requests, limit 100/h per workflow,"
            f" {result['rebalances']} forced rebalances, {result['seconds']:.0f} s):"
            f" {result['over_limit']} admissions and {result['delivered_over_limit']} deliveries over a limit;"
            f" admitted {result['admitted']:,} of {result['expected']:,} allowed"
        )
    if "E1" in parts:
        with sink_process() as sink, tempfile.TemporaryDirectory(prefix="e1-logs-") as logs:
            e1 = await e1_end_to_end(
                bootstrap, database_url, sink, fast, rate=e1_rate, seconds=20, logs=Path(logs)
            )
        print(
            f"E1  trigger -> action at {e1.sent / e1.seconds:,.0f} events/s ({e1.delivered:,}/{e1.sent:,} delivered):"
            f" p50 {e1.p50_ms:.1f} ms, p99 {e1.p99_ms:.1f} ms"
            f" (from ingest's acceptance: p50 {e1.ingested_p50_ms:.1f} ms, p99 {e1.ingested_p99_ms:.1f} ms;"
            f" mean in the matcher {e1.matcher_mean_ms:.1f} ms, in the executor {e1.executor_mean_ms:.1f} ms);"
            f" broker produce->consume floor p50 {e1.floor_p50_ms:.1f} ms, p99 {e1.floor_p99_ms:.1f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default=",".join(PARTS), help="comma-separated: X1,X2,X3,E1")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--x1-actions", type=int, default=10_000)
    parser.add_argument("--x3-actions", type=int, default=100_000)
    parser.add_argument("--e1-rate", type=float, default=1000)
    arguments = parser.parse_args()
    asyncio.run(
        main(
            set(arguments.only.upper().split(",")),
            arguments.rounds,
            arguments.x1_actions,
            arguments.x3_actions,
            arguments.e1_rate,
        )
    )
