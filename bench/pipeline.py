"""E1 (BENCHMARKS.md): trigger to action end to end through the real processes at a fixed event
rate (open loop), p50 and p99, beside the broker's own produce-to-consume latency measured in the
same run at the same rate (the floor: the pipeline crosses the broker twice).

Events go to ingest's ``POST /v1/events`` one by one, each carrying the wall-clock time it was
sent (``data.sentAt``); the loopback sink (``bench.sink``) notes when each action arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from shared import tenancy
from shared.postgres import create_pool
from shared.settings import PostgresSettings
from shared.testing import free_port

SERVICES = {
    "config_api": "API_PORT",
    "ingest": "INGEST_PORT",
    "matcher": "MATCHER_PORT",
    "executor": "EXECUTOR_PORT",
}


@dataclass(frozen=True)
class Latencies:
    sent: int
    delivered: int
    seconds: float
    p50_ms: float
    p99_ms: float
    floor_p50_ms: float
    floor_p99_ms: float
    ingested_p50_ms: float
    ingested_p99_ms: float
    matcher_mean_ms: float
    executor_mean_ms: float


def quantiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100)
    return cuts[49], cuts[98]


@contextlib.contextmanager
def services(env: dict[str, str], logs: Path) -> Iterator[dict[str, int]]:
    """The four services of the path as processes; yields their ports."""
    ports = {name: free_port() for name in SERVICES}
    processes = []
    try:
        for name, variable in SERVICES.items():
            with (logs / f"{name}.log").open("ab") as log:
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-m", f"services.{name}"],
                        env={**env, variable: str(ports[name])},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
        yield ports
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


async def wait_ready(ports: dict[str, int], within: float = 120) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        for port in ports.values():
            while True:
                with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                        if response.status == 200:
                            break
                if time.monotonic() > deadline:
                    raise RuntimeError("services not ready; see the logs")
                await asyncio.sleep(0.3)


async def metric(port: int, name: str) -> float:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as response,
    ):
        text = await response.text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def mean_ms(port: int, histogram: str) -> float:
    """The mean of a Prometheus histogram a service exposes, in ms (``name{labels}``)."""
    name, _, labels = histogram.partition("{")
    labels = "{" + labels if labels else ""
    total = await metric(port, f"{name}_sum{labels}")
    count = await metric(port, f"{name}_count{labels}")
    return total / count * 1000 if count else float("nan")


async def open_loop(rate: float, seconds: float, send: Any) -> int:
    """Start ``send()`` ``rate`` times a second for ``seconds``, never waiting for one to finish
    before the next is due; returns how many were started (all are awaited)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    total = int(rate * seconds)
    tasks = []
    for n in range(total):
        delay = started + n / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send()))
    await asyncio.gather(*tasks)
    return total


async def broker_floor(bootstrap: str, rate: float, seconds: float) -> tuple[float, float]:
    """p50 and p99 (ms) from producing a ~1 KB record (acks=all) to a consumer reading it."""
    topic = f"floor-{uuid.uuid4().hex[:6]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 4, 1)])
    await admin.close()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=10
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1)
    await consumer.start()
    await producer.start()
    latencies: list[float] = []
    total = int(rate * seconds)

    async def consume() -> None:
        while len(latencies) < total:
            for records in (await consumer.getmany(timeout_ms=100)).values():
                now = time.time()
                latencies.extend(
                    (now - float(r.value.split(b" ", 1)[0])) * 1000 for r in records if r.value
                )

    async def send() -> None:
        await producer.send(
            topic, f"{time.time()} ".encode() + b"x" * 1000, key=uuid.uuid4().bytes[:4]
        )

    try:
        reading = asyncio.create_task(consume())
        await asyncio.sleep(1)  # the consumer is assigned its partitions
        await open_loop(rate, seconds, send)
        await asyncio.wait_for(reading, 60)
    finally:
        await producer.stop()
        await consumer.stop()
    return quantiles(latencies)


async def e1_end_to_end(
    bootstrap: str,
    database_url: str,
    sink: str,
    fast: dict[str, Any],
    *,
    rate: float,
    seconds: float,
    logs: Path,
) -> Latencies:
    prefix = f"e1{uuid.uuid4().hex[:6]}."
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "EXECUTOR_", "API_"))
        },
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "TOPIC_PREFIX": prefix,
        "KAFKA_TOPIC_PARTITIONS": "4",
        "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
        "LOG_LEVEL": "WARNING",
        "EXECUTOR_CONSUMER_GROUP": f"executor-{prefix}",
        "EXECUTOR_EXIT_CONSUMER_GROUP": f"exits-{prefix}",
        "MATCHER_APP_ID": "matcher",
        **{f"KAFKA_{k.upper()}": str(v) for k, v in fast.items()},
    }
    pool = await create_pool(
        PostgresSettings(database_url=database_url),  # type: ignore[arg-type]
        application_name="bench",
    )
    try:
        await tenancy.migrate(pool)
        tenant = f"e1-{uuid.uuid4().hex[:6]}"
        await tenancy.create_tenant(pool, tenant)
        key = await tenancy.create_api_key(pool, tenant)
    finally:
        await pool.close()
    with services(env, logs) as ports:
        await wait_ready(ports)
        headers = {"Authorization": f"Bearer {key}"}
        async with aiohttp.ClientSession(
            headers=headers, connector=aiohttp.TCPConnector(limit=200)
        ) as http:
            workflow = {
                "name": "E1",
                "trigger": "private_offer.accepted",
                "actions": [{"type": "webhook", "url": f"{sink}/hook"}],
                "active": True,
            }
            async with http.post(
                f"http://127.0.0.1:{ports['config_api']}/api/workflows", json=workflow
            ) as r:
                assert r.status == 201, await r.text()
            while await metric(ports["matcher"], "matcher_changelog_records_applied_total") < 1:
                await asyncio.sleep(0.2)
            await asyncio.sleep(2)  # let the groups settle
            async with aiohttp.ClientSession() as plain, plain.post(f"{sink}/reset"):
                pass
            url = f"http://127.0.0.1:{ports['ingest']}/v1/events"

            async def send() -> None:
                event = {
                    "type": "private_offer.accepted",
                    "data": {"customerName": "Globex", "value": 150000, "sentAt": time.time()},
                }
                async with http.post(url, json=event) as response:
                    await response.read()

            started = time.perf_counter()
            sent = await open_loop(rate, seconds, send)
            elapsed = time.perf_counter() - started
            deadline = time.monotonic() + 120
            async with aiohttp.ClientSession() as plain:
                while True:
                    async with plain.get(f"{sink}/stats") as response:
                        stats = await response.json()
                    if stats["distinct"] >= sent or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(0.5)
            matcher = await mean_ms(ports["matcher"], "matcher_match_latency_seconds")
            executor = await mean_ms(
                ports["executor"], 'handler_duration_seconds{handler="executions.requested"}'
            )
    p50, p99 = quantiles(stats["latencies_ms"])
    ingested_p50, ingested_p99 = quantiles(stats["since_ingest_ms"])
    floor_p50, floor_p99 = await broker_floor(bootstrap, rate, min(seconds, 10))
    return Latencies(
        sent,
        stats["distinct"],
        elapsed,
        p50,
        p99,
        floor_p50,
        floor_p99,
        ingested_p50,
        ingested_p99,
        matcher,
        executor,
    )
