"""``python -m services.scheduler`` as a real process: configured by env, ready, exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp
import pytest

from shared.settings import KafkaSettings
from shared.testing import free_port

pytestmark = pytest.mark.integration


async def test_the_process_becomes_ready_and_stops_cleanly_on_sigterm(
    kafka_settings: KafkaSettings, database_url: str, topic_prefix: str
) -> None:
    port = free_port()
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
        "KAFKA_SESSION_TIMEOUT_MS": str(kafka_settings.session_timeout_ms),
        "KAFKA_HEARTBEAT_INTERVAL_MS": str(kafka_settings.heartbeat_interval_ms),
        "KAFKA_FETCH_MAX_WAIT_MS": str(kafka_settings.fetch_max_wait_ms),
        "KAFKA_TOPIC_PARTITIONS": str(kafka_settings.topic_partitions),
        "TOPIC_PREFIX": topic_prefix,
        "DATABASE_URL": database_url,
        "SCHEDULER_HOST": "127.0.0.1",
        "SCHEDULER_PORT": str(port),
        "SCHEDULER_CONSUMER_GROUP": f"{topic_prefix}scheduler",
        "SCHEDULER_TICK_SECONDS": "0.1",
        "LOG_FORMAT": "text",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.scheduler",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(30), aiohttp.ClientSession() as http:
            while True:
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/readyz")).status == 200:
                        break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            output, _ = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, output.decode()
    assert b"service stopped" in output
