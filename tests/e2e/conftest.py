"""The services as real processes (``python -m services.<name>``) on the session's broker and DB."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared import tenancy
from shared.contracts import Topics
from shared.postgres import Pool
from shared.testing import free_port
from tests.conftest import FAST_KAFKA

SIGNING_SECRET = "whsec_" + base64.b64encode(b"e2e-signing-secret-32-bytes-long").decode()

SERVICES = {
    "config_api": "API_PORT",
    "ingest": "INGEST_PORT",
    "matcher": "MATCHER_PORT",
    "executor": "EXECUTOR_PORT",
    "scheduler": "SCHEDULER_PORT",
}


@dataclass
class Stack:
    """The five services of one test module, sharing a topic prefix of their own."""

    env: dict[str, str]
    logs: Path
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def url(self, service: str, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def start(self, service: str, *, replica: str | None = None, **env: str) -> None:
        """Start ``service`` (as ``replica``, when several run side by side), with ``env``
        added to the stack's environment."""
        name = replica or service
        port = self.ports.setdefault(name, free_port())
        with (self.logs / f"{name}.log").open("ab") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, "-m", f"services.{service}"],
                env={**self.env, **env, SERVICES[service]: str(port)},
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self, service: str, sig: signal.Signals = signal.SIGTERM, timeout: float = 30) -> int:
        process = self.processes.pop(service)
        process.send_signal(sig)
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise

    async def wait_ready(self, *services: str, within: float = 60) -> None:
        pending = set(services or self.processes)
        deadline = time.monotonic() + within
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while pending:
                for service in list(pending):
                    process = self.processes[service]
                    if process.poll() is not None:
                        raise AssertionError(
                            f"{service} exited with {process.returncode}:\n{self.tail(service)}"
                        )
                    try:
                        async with http.get(self.url(service, "/readyz")) as response:
                            if response.status == 200:
                                pending.discard(service)
                    except (aiohttp.ClientError, TimeoutError):
                        pass
                if pending and time.monotonic() > deadline:
                    tails = "\n".join(f"--- {s}\n{self.tail(s)}" for s in pending)
                    raise AssertionError(f"not ready after {within}s: {sorted(pending)}\n{tails}")
                await asyncio.sleep(0.2)

    def tail(self, service: str, lines: int = 40) -> str:
        path = self.logs / f"{service}.log"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def stop_all(self) -> None:
        for service in list(self.processes):
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.stop(service)


def stack_env(kafka_bootstrap: str, database_url: str, **kafka: int) -> dict[str, str]:
    """The services' environment: this process's, less any service or Kafka setting, plus the
    broker, the database, a topic prefix of its own and ``FAST_KAFKA`` (``kafka`` overrides)."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("KAFKA_", "API_", "INGEST_", "MATCHER_", "EXECUTOR_", "SCHEDULER_"))
    }
    env.update(
        {
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "DATABASE_URL": database_url,
            "TOPIC_PREFIX": f"e2e{uuid.uuid4().hex[:8]}.",
            "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
            "WEBHOOK_SIGNING_SECRET": SIGNING_SECRET,
            "LOG_FORMAT": "json",
            "API_OUTBOX_POLL_SECONDS": "0.1",
            **{f"KAFKA_{key.upper()}": str(value) for key, value in (FAST_KAFKA | kafka).items()},
        }
    )
    return env


@pytest.fixture(scope="module")
def stack(
    kafka_bootstrap: str, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    stack = Stack(
        env=stack_env(kafka_bootstrap, database_url), logs=tmp_path_factory.mktemp("e2e-logs")
    )
    try:
        yield stack
    finally:
        stack.stop_all()


@dataclass
class WebhookSink:
    """A local HTTP server standing in for a customer's webhook endpoint."""

    url: str
    raw: list[bytes] = field(default_factory=list)
    received: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_for(self, count: int, within: float = 30) -> None:
        async with asyncio.timeout(within):
            while len({h["webhook-id"] for h in self.headers}) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def webhook_sink() -> AsyncIterator[WebhookSink]:
    port = free_port()
    sink = WebhookSink(url=f"http://127.0.0.1:{port}/hook")

    async def receive(request: web.Request) -> web.Response:
        sink.raw.append(await request.read())
        sink.received.append(json.loads(sink.raw[-1]))
        sink.headers.append(dict(request.headers))
        sink.arrived.set()
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", receive)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield sink
    finally:
        await runner.cleanup()


@pytest.fixture
async def api_key(pool: Pool, tenant_id: str) -> str:
    await tenancy.create_tenant(pool, tenant_id)
    return await tenancy.create_api_key(pool, tenant_id)


async def call(method: str, url: str, key: str, body: Any) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, url, json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response,
    ):
        return response.status, await response.json()


async def metric(stack: Stack, service: str, name: str) -> float:
    async with (
        aiohttp.ClientSession() as http,
        http.get(stack.url(service, "/metrics")) as response,
    ):
        text = await response.text()
    values = [
        float(v) for v in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.M)
    ]
    return sum(values)


async def changelog_size(stack: Stack) -> int:
    topic = Topics(stack.env["TOPIC_PREFIX"]).workflows_changelog
    consumer = AIOKafkaConsumer(bootstrap_servers=stack.env["KAFKA_BOOTSTRAP_SERVERS"])
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in partitions])
        return sum(ends.values())
    finally:
        await consumer.stop()


async def wait_until_the_matcher_knows(stack: Stack, pool: Pool, workflow: dict[str, Any]) -> None:
    """Until the workflow's changelog record is published and the matcher applied every record."""
    async with asyncio.timeout(30):
        while await pool.fetchval(
            "SELECT count(*) FROM outbox WHERE key = $1", f"{workflow['tenantId']}/{workflow['id']}"
        ):
            await asyncio.sleep(0.05)
        while await metric(
            stack, "matcher", "matcher_changelog_records_applied_total"
        ) < await changelog_size(stack):
            await asyncio.sleep(0.1)
