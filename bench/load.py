"""The I1 load generator, run as its own process (``python -m bench.load BASE KEY TENANT SECRET
SECONDS``) so that the client shares no interpreter with anything else; prints the figures as JSON.

Closed loops measure throughput; open loops start requests at a fixed rate whatever the answers
do, and charge each request from its scheduled start (no coordinated omission).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable

import aiohttp


def hubspot_batch(size: int, portal: int) -> bytes:
    """A HubSpot webhook batch of ``size`` distinct property changes (HubSpot sends at most 100)."""
    stamp = time.time_ns() // 1_000_000
    return json.dumps(
        [
            {
                "objectId": 1_000_000 + n,
                "propertyName": "lifecyclestage",
                "propertyValue": "customer",
                "changeSource": "CRM_UI",
                "eventId": random.getrandbits(48),
                "subscriptionId": 25,
                "portalId": portal,
                "appId": 1160452,
                "occurredAt": stamp,
                "subscriptionType": "contact.propertyChange",
                "attemptNumber": 0,
            }
            for n in range(size)
        ]
    ).encode()


def hubspot_headers(url: str, body: bytes, secret: str) -> dict[str, str]:
    stamp = str(time.time_ns() // 1_000_000)
    digest = hmac.new(
        secret.encode(), b"POST" + url.encode() + body + stamp.encode(), hashlib.sha256
    )
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest.digest()).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
    }


async def closed_loop(
    seconds: float, concurrency: int, send: Callable[[], Awaitable[int]]
) -> float:
    """Events/s with ``concurrency`` clients each sending as soon as its last answer came."""
    accepted = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal accepted
        while time.perf_counter() < deadline:
            # Not ``accepted += await send()``: that reads ``accepted`` before awaiting, and
            # concurrent clients would overwrite each other's counts.
            sent = await send()
            accepted += sent

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return accepted / (time.perf_counter() - started)


async def open_loop(rate: float, seconds: float, send: Callable[[], Awaitable[int]]) -> list[float]:
    """Latencies of requests started at ``rate`` per second whatever the answers do (open loop).

    Each latency runs from the request's scheduled start, so a stalled server is charged for the
    requests that should have gone out meanwhile (no coordinated omission).
    """
    latencies: list[float] = []
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()

    async def one(scheduled: float) -> None:
        await send()
        latencies.append(time.perf_counter() - scheduled)

    for n in range(int(rate * seconds)):
        scheduled = started + n / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    return latencies


async def measure(
    base: str, key: str, tenant: str, secret: str, seconds: float
) -> dict[str, float]:
    """Batches of 500 native events and of 100 signed HubSpot events (4 clients each), the
    single-event capacity (32 clients), then single events at 1,000 req/s open loop."""
    results: dict[str, float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        data = {
            "customerName": "Globex",
            "value": 150000,
            "productName": "DataPipe",
            "pad": "x" * 800,
        }

        async def native_batch() -> int:
            body = [
                {"type": "private_offer.accepted", "id": uuid.uuid4().hex, "data": data}
                for _ in range(500)
            ]
            async with http.post(f"{base}/v1/events", json=body, headers=headers) as response:
                assert response.status == 202, await response.text()
            return 500

        async def native_single() -> int:
            body = {"type": "customer.created", "id": uuid.uuid4().hex, "data": data}
            async with http.post(f"{base}/v1/events", json=body, headers=headers) as response:
                assert response.status == 202, await response.text()
            return 1

        hook = f"{base}/v1/webhooks/hubspot/{tenant}"

        def signed(size: int) -> Callable[[], Awaitable[int]]:
            async def send() -> int:
                body = hubspot_batch(size, portal=33)
                async with http.post(
                    hook, data=body, headers=hubspot_headers(hook, body, secret)
                ) as response:
                    assert response.status == 200, await response.text()
                return size

            return send

        results["batch"] = await closed_loop(seconds, 4, native_batch)
        results["hubspot_batch"] = await closed_loop(seconds, 4, signed(100))
        # What one ingest process sustains here, to read the open-loop figures against.
        results["single_capacity"] = await closed_loop(seconds, 32, native_single)
        for name, send in (("single", native_single), ("hubspot_single", signed(1))):
            latencies = await open_loop(1000, seconds, send)
            quantiles = statistics.quantiles(latencies, n=100)
            results[f"{name}_p50"] = quantiles[49] * 1000
            results[f"{name}_p99"] = quantiles[98] * 1000
    return results


if __name__ == "__main__":
    base_url, api_key, tenant_id, hubspot_secret, duration = sys.argv[1:6]
    figures = asyncio.run(measure(base_url, api_key, tenant_id, hubspot_secret, float(duration)))
    print(json.dumps(figures))
