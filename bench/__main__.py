"""``make bench``: run every benchmark against the embedded broker and PostgreSQL, print figures.

``python -m bench [part ...]`` (``make bench-<part>``) runs only the parts named: ``ingest`` (B1,
I1), ``scheduler`` (B2, S1, S2), ``executor`` (X1-X3 and E1 at their defaults; ``python -m
bench.executor --help`` picks some, at other sizes), ``matcher`` (M1-M6, with B1 in the same
run), ``api`` (the config API's stats strip and runs page over a million executions), ``soak``
(the five services under steady load for ``--minutes``, 30 by default: lag, RSS and every event
accounted for). Figures
are medians of several rounds, and ratios against a baseline measured on the same broker or
database in the same run (B1: raw aiokafka consume→produce passthrough; B2: raw
asyncpg claim-and-delete) where the comparison means something.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import subprocess
import sys
import time
import uuid

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr

from bench import api, executor, matcher, scheduler, soak
from shared import tenancy
from shared.postgres import create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import EmbeddedBroker, EmbeddedPostgres, free_port

FAST = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500, "fetch_max_wait_ms": 10}


async def b1_passthrough(bootstrap: str, messages: int) -> float:
    """B1: msg/s of a raw aiokafka consumer that re-produces every ~1 KB record."""
    source, sink = f"b1-in-{uuid.uuid4().hex[:6]}", f"b1-out-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(source, 4, 1), NewTopic(sink, 4, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    await producer.start()
    payload = b"x" * 1000
    for n in range(messages):
        await producer.send(source, payload, key=str(n % 64).encode())
    await producer.flush()
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=f"b1-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=10,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        max_poll_records=2000,
    )
    await consumer.start()
    seen = 0
    started: float | None = None
    while seen < messages:
        batch = await consumer.getmany(timeout_ms=100)
        if batch and started is None:
            started = time.perf_counter()
        for records in batch.values():
            for record in records:
                await producer.send(sink, record.value, key=record.key)
            seen += len(records)
        if batch:
            await producer.flush()
            await consumer.commit()
    elapsed = time.perf_counter() - (started or time.perf_counter())
    await consumer.stop()
    await producer.stop()
    return messages / elapsed


def ingest_process(kafka: KafkaSettings, database_url: str, port: int) -> subprocess.Popen[bytes]:
    """Ingest as its own process (``python -m services.ingest``), as it runs in production."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "TOPIC_PREFIX": kafka.topic_prefix,
        "KAFKA_TOPIC_PARTITIONS": str(kafka.topic_partitions),
        "KAFKA_FETCH_MAX_WAIT_MS": "10",
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "DATABASE_URL": database_url,
        "INGEST_HOST": "127.0.0.1",
        "INGEST_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, *os.environ.get("INGEST_WRAP", "").split(), "-m", "services.ingest"],
        env=env,
    )


async def i1_ingest(kafka: KafkaSettings, database_url: str, seconds: float) -> dict[str, float]:
    """I1: POST /v1/events batches (acks=all) in events/s; single events at 1,000 req/s open
    loop (p50/p99); the same through HubSpot webhook batches with v3 signatures checked."""
    postgres = PostgresSettings(database_url=SecretStr(database_url))
    pool = await create_pool(postgres, application_name="bench")
    await tenancy.migrate(pool)
    tenant = f"bench-{uuid.uuid4().hex[:6]}"
    secret = "bench-hubspot-secret"  # noqa: S105 - a throwaway tenant's secret
    await tenancy.create_tenant(pool, tenant)
    key = await tenancy.create_api_key(pool, tenant)
    await tenancy.set_inbound_secret(pool, tenant, "hubspot", secret)
    await pool.close()
    port = free_port()
    process = ingest_process(kafka, database_url, port)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        load = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.load",
            base,
            key,
            tenant,
            secret,
            str(seconds),
            stdout=asyncio.subprocess.PIPE,
        )
        output, _ = await load.communicate()
        if load.returncode != 0:
            raise RuntimeError("the load generator failed")
        results: dict[str, float] = json.loads(output)
    finally:
        process.terminate()
        process.wait(timeout=30)
    return results


async def wait_ready(base: str) -> None:
    async with aiohttp.ClientSession() as http:
        deadline = time.perf_counter() + 60
        while time.perf_counter() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{base}/readyz") as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.2)
    raise RuntimeError("ingest did not become ready")


PARTS = ("ingest", "scheduler", "executor", "matcher", "api", "soak")


async def main(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    rounds: int = args.rounds
    with contextlib.ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap_servers
        database_url = os.environ.get("DATABASE_URL") or stack.enter_context(EmbeddedPostgres()).url
        if "ingest" in args.parts:
            await ingest(bootstrap, database_url, rounds)
        if "scheduler" in args.parts:
            await scheduler.run(
                bootstrap,
                database_url,
                rounds=rounds,
                contracts=args.contracts,
                timers=args.timers,
                idle_schedules=args.schedules,
                s2_seconds=args.s2_seconds,
            )
        if "executor" in args.parts:
            await executor.run(bootstrap, database_url, rounds=rounds)
        if "matcher" in args.parts:
            await matcher.run(
                bootstrap, database_url, rounds=rounds, size=args.matcher_size, b1=b1_passthrough
            )
        if "api" in args.parts:
            await api.run(database_url, rounds=rounds)
        if "soak" in args.parts:
            await soak.run(
                bootstrap,
                database_url,
                minutes=args.minutes,
                rate=args.rate,
                tenants=args.tenants,
                workflows=args.workflows,
                sample_seconds=args.sample_seconds,
                warmup_minutes=args.warmup_minutes,
            )


async def ingest(bootstrap: str, database_url: str, rounds: int) -> None:
    """B1 and I1."""
    b1 = [await b1_passthrough(bootstrap, 20_000) for _ in range(rounds)]
    b1_median = statistics.median(b1)
    print(f"B1  raw aiokafka passthrough       {b1_median:>10,.0f} msg/s   (median of {rounds})")
    results = []
    for _ in range(rounds):
        kafka = KafkaSettings(
            bootstrap_servers=bootstrap,
            TOPIC_PREFIX=f"bench{uuid.uuid4().hex[:6]}.",
            topic_partitions=4,
            **FAST,
        )
        results.append(await i1_ingest(kafka, database_url, seconds=5))
    figure = {name: statistics.median(r[name] for r in results) for name in results[0]}
    for label, name in (
        ("batch endpoint", "batch"),
        ("HubSpot batches, signed", "hubspot_batch"),
    ):
        print(
            f"I1  ingest {label:<27}{figure[name]:>10,.0f} events/s  ({figure[name] / b1_median:.2f} x B1)"
        )
    for label, name in (
        ("single event", "single"),
        ("HubSpot single, signed", "hubspot_single"),
    ):
        print(
            f"I1  ingest {label:<27}p50 {figure[name + '_p50']:.1f} ms, p99 {figure[name + '_p99']:.1f} ms"
            " (open loop, 1,000 req/s)"
        )
    print(
        f"I1  ingest single-event capacity     {figure['single_capacity']:>10,.0f} req/s"
        "  (32 clients, closed loop)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "parts", nargs="*", default=list(PARTS), help=f"any of {', '.join(PARTS)} (default: all)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--contracts", type=int, default=1_000_000, help="S1 contracts")
    parser.add_argument("--timers", type=int, default=1_000_000, help="S1 timers and B2 rows")
    parser.add_argument("--schedules", type=int, default=1_000_000, help="S2 idle schedules")
    parser.add_argument("--s2-seconds", type=float, default=120.0, help="S2 measuring time")
    parser.add_argument(
        "--matcher-size", type=int, default=1_000_000, help="workflows of M2 and M6's large run"
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="soak: minutes of load")
    parser.add_argument("--rate", type=float, default=20.0, help="soak: events/s (open loop)")
    parser.add_argument("--tenants", type=int, default=200, help="soak: tenants")
    parser.add_argument("--workflows", type=int, default=2000, help="soak: workflows (all tenants)")
    parser.add_argument(
        "--sample-seconds", type=float, default=30.0, help="soak: seconds between samples"
    )
    parser.add_argument(
        "--warmup-minutes",
        type=float,
        default=5.0,
        help="soak: RSS band also over the samples after this (at most a third of the run)",
    )
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}; choose from {', '.join(PARTS)}")
    asyncio.run(main(arguments))
