"""Two scheduler processes draining many timers; one is killed with SIGKILL mid-drain. Every
timer is handed back, and a timer handed back twice (the killed one's claim in flight) is the
same request with the same execution id."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from services.scheduler.adapters.postgres import migrate
from shared.contracts import ExecutionRequest, Topics
from shared.postgres import Pool
from shared.settings import KafkaSettings
from shared.testing import free_port
from tests.integration.scheduler.support import SCHEDULER_TABLES, Tail, eventually, parked

pytestmark = pytest.mark.integration

TIMERS = 6000


async def start_scheduler(
    kafka: KafkaSettings, database_url: str, topic_prefix: str
) -> tuple[asyncio.subprocess.Process, int]:
    port = free_port()
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "KAFKA_SESSION_TIMEOUT_MS": str(kafka.session_timeout_ms),
        "KAFKA_HEARTBEAT_INTERVAL_MS": str(kafka.heartbeat_interval_ms),
        "KAFKA_FETCH_MAX_WAIT_MS": str(kafka.fetch_max_wait_ms),
        "KAFKA_TOPIC_PARTITIONS": str(kafka.topic_partitions),
        "TOPIC_PREFIX": topic_prefix,
        "DATABASE_URL": database_url,
        "SCHEDULER_HOST": "127.0.0.1",
        "SCHEDULER_PORT": str(port),
        "SCHEDULER_CONSUMER_GROUP": f"{topic_prefix}scheduler",
        "SCHEDULER_TIMER_BATCH_SIZE": "50",
        "SCHEDULER_TIMER_MAX_SLEEP_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.scheduler",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return process, port


async def ready(port: int) -> bool:
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{port}/readyz") as reply,
        ):
            return reply.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def fired_by(port: int) -> float:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as reply,
    ):
        for line in (await reply.text()).splitlines():
            if line.startswith("scheduler_timers_fired_total "):
                return float(line.split()[1])
    return 0.0


async def test_sigkill_of_one_replica_mid_drain_loses_and_changes_nothing(
    kafka_settings: KafkaSettings, database_url: str, pool: Pool, tenant_id: str, topic_prefix: str
) -> None:
    await migrate(pool)
    await pool.execute(f"TRUNCATE {', '.join(SCHEDULER_TABLES)}")
    topics = Topics(topic_prefix)
    processes: list[asyncio.subprocess.Process] = []
    ports: list[int] = []
    try:
        async with Tail(kafka_settings, topics.executions_requested) as requested:
            for _ in range(2):
                process, port = await start_scheduler(kafka_settings, database_url, topic_prefix)
                processes.append(process)
                ports.append(port)
                await eventually(lambda port=port: ready(port), "a scheduler is ready", 60)

            due_at = datetime.now(UTC) + timedelta(seconds=1)
            requests = [parked(tenant_id, n, due_at).request for n in range(TIMERS)]
            await pool.copy_records_to_table(
                "timers",
                columns=[
                    "timer_id",
                    "due_at",
                    "tenant_id",
                    "workflow_id",
                    "execution_id",
                    "reason",
                    "step",
                    "request",
                ],
                records=[
                    (
                        f"tmr_{n}",
                        due_at,
                        tenant_id,
                        r.workflow_id,
                        r.execution_id,
                        "delay",
                        1,
                        r.model_dump_json(by_alias=True),
                    )
                    for n, r in enumerate(requests)
                ],
            )
            await requested.until(TIMERS // 5, "a fifth of the timers are handed back", 60)
            processes[0].send_signal(signal.SIGKILL)
            killed_at = len(requested.records)
            await requested.until(TIMERS, "every timer is handed back", 120)

            async def drained() -> bool:
                return bool(await pool.fetchval("SELECT count(*) FROM timers") == 0)

            await eventually(drained, "the timers table is empty", 60)

            # Empty means every claim committed, each after the broker acknowledged its
            # requests: they are all on the topic, though the tail may not have read them yet
            # (the count above includes the killed replica's repeats).
            async def every_timer_read() -> bool:
                fired: set[str] = set()
                for _, record in requested.records:
                    resumption = ExecutionRequest.model_validate_json(record.value).resumption
                    if resumption is not None:
                        fired.add(resumption.timer_id)
                return len(fired) >= TIMERS

            await eventually(every_timer_read, "every timer's request is read", 60)
            await asyncio.sleep(0.5)  # a repeat still in flight arrives and is counted
            received = list(requested.records)
            survivor_fired = await fired_by(ports[1])
    finally:
        for process in processes:
            if process.returncode is None:
                process.kill()
            await process.wait()
        await pool.execute(f"TRUNCATE {', '.join(SCHEDULER_TABLES)}")

    by_timer: dict[str, set[bytes]] = {}
    for _, record in received:
        parsed = ExecutionRequest.model_validate_json(record.value)
        assert parsed.resumption is not None
        by_timer.setdefault(parsed.resumption.timer_id, set()).add(record.value)
    expected = {r.resumption.timer_id: r for r in requests if r.resumption is not None}
    assert set(by_timer) == set(expected), "every timer fired"
    for timer_id, values in by_timer.items():
        assert len(values) == 1, f"{timer_id} fired with different contents"
        fired = ExecutionRequest.model_validate_json(next(iter(values)))
        assert fired.execution_id == expected[timer_id].execution_id
    twice = sum(
        count - 1
        for count in Counter(
            ExecutionRequest.model_validate_json(r.value).execution_id for _, r in received
        ).values()
    )
    print(
        f"{TIMERS} timers, SIGKILL after {killed_at} arrived: {len(received)} records, "
        f"{twice} fired again with the same execution id; the survivor fired {survivor_fired:.0f}"
    )
