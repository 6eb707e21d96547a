"""``make bench``: run every benchmark against the embedded broker and PostgreSQL, print figures.

Figures are medians of several rounds, and ratios against B1 (raw aiokafka consume→produce
passthrough on the same broker, same run) where the comparison means something.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import statistics
import time
import uuid

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from pydantic import SecretStr

from bench import matcher
from services.ingest.service import IngestService
from services.ingest.settings import IngestSettings
from shared import tenancy
from shared.postgres import create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import EmbeddedBroker, EmbeddedPostgres

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


async def i1_ingest(
    kafka: KafkaSettings, postgres: PostgresSettings, seconds: float
) -> tuple[float, float, float]:
    """I1: events/s through POST /v1/events (batches of 500, acks=all), and single-event p50/p99."""
    service = IngestService(
        IngestSettings(host="127.0.0.1", port=0, kafka=kafka, postgres=postgres)
    )
    async with service:
        pool = await create_pool(postgres, application_name="bench")
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        await tenancy.create_tenant(pool, tenant)
        key = await tenancy.create_api_key(pool, tenant)
        await pool.close()
        url = f"http://127.0.0.1:{service.http.bound_port}/v1/events"
        headers = {"Authorization": f"Bearer {key}"}
        data = {
            "customerName": "Globex",
            "value": 150000,
            "productName": "DataPipe",
            "pad": "x" * 800,
        }
        accepted = 0
        async with aiohttp.ClientSession(headers=headers) as http:

            async def batches() -> None:
                nonlocal accepted
                deadline = time.perf_counter() + seconds
                while time.perf_counter() < deadline:
                    body = [
                        {"type": "private_offer.accepted", "id": uuid.uuid4().hex, "data": data}
                        for _ in range(500)
                    ]
                    async with http.post(url, json=body) as response:
                        assert response.status == 202, await response.text()
                        accepted += 500

            started = time.perf_counter()
            await asyncio.gather(*(batches() for _ in range(4)))
            throughput = accepted / (time.perf_counter() - started)

            latencies: list[float] = []
            for _ in range(500):
                begin = time.perf_counter()
                async with http.post(
                    url, json={"type": "customer.created", "data": data}
                ) as response:
                    assert response.status == 202
                latencies.append(time.perf_counter() - begin)
                await asyncio.sleep(0.001)
    quantiles = statistics.quantiles(latencies, n=100)
    return throughput, quantiles[49] * 1000, quantiles[98] * 1000


async def main(rounds: int, parts: list[str], matcher_size: int) -> None:
    logging.basicConfig(level=logging.WARNING)
    with contextlib.ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            bootstrap = stack.enter_context(EmbeddedBroker()).bootstrap_servers
        database_url = os.environ.get("DATABASE_URL") or stack.enter_context(EmbeddedPostgres()).url
        if "matcher" in parts:
            await matcher.run(
                bootstrap, database_url, rounds=rounds, size=matcher_size, b1=b1_passthrough
            )
        if "ingest" not in parts:
            return
        postgres = PostgresSettings(database_url=SecretStr(database_url))
        b1 = [await b1_passthrough(bootstrap, 20_000) for _ in range(rounds)]
        b1_median = statistics.median(b1)
        print(
            f"B1  raw aiokafka passthrough       {b1_median:>10,.0f} msg/s   (median of {rounds})"
        )
        results = []
        for _ in range(rounds):
            kafka = KafkaSettings(
                bootstrap_servers=bootstrap,
                TOPIC_PREFIX=f"bench{uuid.uuid4().hex[:6]}.",
                topic_partitions=4,
                **FAST,
            )
            results.append(await i1_ingest(kafka, postgres, seconds=5))
        throughput = statistics.median(r[0] for r in results)
        p50 = statistics.median(r[1] for r in results)
        p99 = statistics.median(r[2] for r in results)
        print(
            f"I1  ingest batch endpoint          {throughput:>10,.0f} events/s  ({throughput / b1_median:.2f} x B1)"
        )
        print(f"I1  ingest single event latency    p50 {p50:.1f} ms, p99 {p99:.1f} ms (sequential)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "parts", nargs="*", choices=["ingest", "matcher"], help="what to measure (default: all)"
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--matcher-size", type=int, default=1_000_000, help="workflows of M2 and M6's large run"
    )
    arguments = parser.parse_args()
    asyncio.run(
        main(arguments.rounds, arguments.parts or ["ingest", "matcher"], arguments.matcher_size)
    )
