"""S1 and S2 (../shared/BENCHMARKS.md): the scheduler at a million contracts, timers, schedules.

- **B2**: raw asyncpg claim-and-delete (``FOR UPDATE SKIP LOCKED``, batches of 500) over a
  million rows shaped like the timers, rows/s: the floor our timers are compared with.
- **S1 contracts**: 1,000,000 active contracts (COPY); the claim query that finds the ones whose
  mark is due today, timed, with its plan; then firing them all to the broker, contracts/s.
- **S1 timers**: 1,000,000 due timers (COPY) drained by a scheduler process to
  ``executions.requested``, timers/s (and x B2); then a steady stream of timers parked through
  ``executions.deferred`` 2 s ahead, and the lateness of their arrival on
  ``executions.requested`` (p50, p99, max).
- **S2**: 1,000,000 idle cron schedules plus 1,000 due every minute; the scheduler process's CPU
  (and its PostgreSQL backends') as a share of one core.

Each part runs in a database of its own, created and dropped here; services run as real
processes (``python -m services.scheduler``) so their CPU is theirs alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from services.scheduler.adapters.kafka import KafkaEventPublisher
from services.scheduler.adapters.postgres import (
    QUERIES,
    PostgresContractStore,
    PostgresTenantZones,
    migrate,
)
from services.scheduler.domain import marks_of
from services.scheduler.handlers import fire_due_contracts
from shared.contracts import (
    CloudEvent,
    DeferredExecution,
    ExecutionRequest,
    Resumption,
    Topics,
    WorkflowDefinition,
)
from shared.kafka import Outgoing, ensure_topics, make_producer, publish_all
from shared.postgres import create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import free_port, throwaway_database

FAST = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500, "fetch_max_wait_ms": 10}
MARKS = marks_of((90, 60, 30, 7, 1))
BATCH = 500
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def fresh_database(server_url: str) -> contextlib.AbstractAsyncContextManager[str]:
    return throwaway_database(server_url, "bench_sched_")


def kafka(bootstrap: str) -> KafkaSettings:
    return KafkaSettings(
        bootstrap_servers=bootstrap,
        TOPIC_PREFIX=f"bench{uuid.uuid4().hex[:6]}.",
        topic_partitions=4,
        **FAST,
    )


def sample_request(n: int, due_at: datetime) -> ExecutionRequest:
    """A ~1 KB parked request, as the executor would park a delay step."""
    return ExecutionRequest(
        execution_id=f"exe_{n:08d}",
        tenant_id="bench",
        workflow_id=f"wf_{n % 100}",
        workflow_version=1,
        workflow=WorkflowDefinition.model_validate(
            {
                "name": "Follow up two days after an accepted offer",
                "trigger": "private_offer.accepted",
                "actions": [
                    {"type": "delay", "duration": "2 days"},
                    {"type": "webhook", "url": "https://hooks.example.com/follow-up"},
                ],
                "status": "active",
            }
        ),
        event=CloudEvent(
            id=f"evt_{n:08d}",
            source="native",
            type="private_offer.accepted",
            tenantid="bench",
            data={"customerName": "Globex", "value": 150000, "pad": "x" * 400},
        ),
        resumption=Resumption(timer_id=f"tmr_{n:08d}", reason="delay", step=1, due_at=due_at),
    )


def timer_rows(count: int, due_at: datetime) -> Iterator[tuple[object, ...]]:
    """COPY rows for ``count`` timers, from one rendered request (ids substituted)."""
    template = sample_request(0, due_at).model_dump_json(by_alias=True)
    for n in range(count):
        tag = f"{n:08d}"
        body = template.replace("00000000", tag)
        yield (f"tmr_{tag}", due_at, "bench", f"wf_{n % 100}", f"exe_{tag}", "delay", 1, body)


TIMER_COLUMNS = [
    "timer_id",
    "due_at",
    "tenant_id",
    "workflow_id",
    "execution_id",
    "reason",
    "step",
    "request",
]


async def b2_claim_and_delete(database_url: str, rows: int) -> float:
    """B2: rows/s of a raw claim-and-delete loop, batches of 500, over ``rows`` timer-shaped rows."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            "DROP TABLE IF EXISTS b2; CREATE TABLE b2 (LIKE timers INCLUDING ALL)"
        )
        now = datetime.now(UTC)
        await connection.copy_records_to_table(
            "b2", columns=TIMER_COLUMNS, records=timer_rows(rows, now)
        )
        await connection.execute("ANALYZE b2")
        claim = (
            "DELETE FROM b2 WHERE timer_id IN (SELECT timer_id FROM b2 WHERE due_at <= $1 "
            "ORDER BY due_at LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING timer_id, request"
        )
        deleted = 0
        started = time.perf_counter()
        while True:
            async with connection.transaction():
                batch = await connection.fetch(claim, now)
            if not batch:
                break
            deleted += len(batch)
        elapsed = time.perf_counter() - started
        await connection.execute("DROP TABLE b2")
    finally:
        await connection.close()
    return deleted / elapsed


def next_days(days_left: int) -> int | None:
    ahead = [mark for mark in MARKS if mark <= days_left]
    return max(ahead) if ahead else None


async def s1_contracts(
    bootstrap: str, database_url: str, count: int, rounds: int
) -> tuple[int, float, float, str]:
    """(due today, median ms to find them, contracts fired/s, the plan's first line)."""
    postgres = PostgresSettings(database_url=SecretStr(database_url), db_pool_max_size=4)
    pool = await create_pool(postgres, application_name="bench")
    await migrate(pool)
    today = datetime.now(UTC).date()
    raw = await asyncpg.connect(database_url)
    try:
        rows = []
        for n in range(count):
            days_left = n % 732 - 1
            rows.append(
                (
                    f"bench-{n % 100}",
                    f"c-{n:07d}",
                    "active",
                    today + timedelta(days=days_left),
                    f"Customer {n}",
                    f'{{"customerName": "Customer {n}", "contractId": "c-{n:07d}"}}',
                    datetime.now(UTC),
                    f"e-{n}",
                    next_days(days_left),
                )
            )
        started = time.perf_counter()
        await raw.copy_records_to_table(
            "contracts",
            columns=[
                "tenant_id",
                "contract_id",
                "status",
                "end_date",
                "customer_name",
                "fields",
                "event_time",
                "event_id",
                "next_days",
            ],
            records=rows,
        )
        await raw.execute("ANALYZE contracts")
        print(f"    loaded {count:,} contracts with COPY in {time.perf_counter() - started:.1f} s")
        plan = await raw.fetch("EXPLAIN " + QUERIES.claim_due_contracts, today, [], [], 1_000_000)
        finds: list[float] = []
        due = 0
        for _ in range(rounds):
            claim = raw.transaction()
            await claim.start()
            started = time.perf_counter()
            found = await raw.fetch(QUERIES.claim_due_contracts, today, [], [], 1_000_000)
            finds.append((time.perf_counter() - started) * 1000)
            due = len(found)
            await claim.rollback()
    finally:
        await raw.close()

    settings = kafka(bootstrap)
    topics = Topics(settings.topic_prefix)
    await ensure_topics(settings, [topics.events_normalized])
    producer = make_producer(settings, client_id="bench")
    await producer.start()
    publisher = KafkaEventPublisher(topics)
    publisher.producer = producer
    store = PostgresContractStore(pool)
    zones = PostgresTenantZones(pool)
    fired = 0
    started = time.perf_counter()
    try:
        while True:
            firings = await fire_due_contracts(
                store, publisher, zones, now=datetime.now(UTC), marks=MARKS, limit=BATCH
            )
            fired += len(firings)
            if len(firings) < BATCH:
                break
    finally:
        elapsed = time.perf_counter() - started
        await producer.stop()
        await pool.close()
    scans = [row[0].strip().lstrip("-> ") for row in plan if " Scan " in f" {row[0]} "]
    return due, statistics.median(finds), fired / elapsed, "; ".join(scans) or plan[0][0]


def scheduler_env(settings: KafkaSettings, database_url: str, port: int) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KAFKA_", "SCHEDULER_"))},
        "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "KAFKA_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms),
        "KAFKA_HEARTBEAT_INTERVAL_MS": str(settings.heartbeat_interval_ms),
        "KAFKA_FETCH_MAX_WAIT_MS": "50",
        "KAFKA_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "TOPIC_PREFIX": settings.topic_prefix,
        "DATABASE_URL": database_url,
        "SCHEDULER_HOST": "127.0.0.1",
        "SCHEDULER_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }


@contextlib.asynccontextmanager
async def scheduler_process(
    settings: KafkaSettings, database_url: str
) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.scheduler",
        env=scheduler_env(settings, database_url, port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while True:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as reply:
                        if reply.status == 200:
                            break
                if time.monotonic() > deadline or process.returncode is not None:
                    raise RuntimeError("the scheduler did not become ready")
                await asyncio.sleep(0.1)
        yield process, port
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=30)
        except TimeoutError:
            process.kill()
            await process.wait()


async def s1_timer_drain(bootstrap: str, database_url: str, count: int) -> float:
    """Timers/s: a scheduler process handing ``count`` due timers back to the broker."""
    settings = kafka(bootstrap)
    postgres = PostgresSettings(database_url=SecretStr(database_url))
    pool = await create_pool(postgres, application_name="bench")
    await migrate(pool)
    await pool.execute("TRUNCATE timers")
    raw = await asyncpg.connect(database_url)
    try:
        started = time.perf_counter()
        await raw.copy_records_to_table(
            "timers", columns=TIMER_COLUMNS, records=timer_rows(count, datetime.now(UTC))
        )
        await raw.execute("ANALYZE timers")
        print(f"    loaded {count:,} timers with COPY in {time.perf_counter() - started:.1f} s")
    finally:
        await raw.close()
    try:
        async with scheduler_process(settings, database_url):
            started = time.perf_counter()
            while await pool.fetchval("SELECT count(*) FROM timers") > 0:
                await asyncio.sleep(0.2)
            return count / (time.perf_counter() - started)
    finally:
        await pool.close()


async def s1_timer_lateness(
    bootstrap: str, database_url: str, rate: int, seconds: float
) -> tuple[float, float, float, int]:
    """(p50, p99, max) lateness in ms of timers parked ``rate``/s for ``seconds``, 2 s ahead,
    measured as arrival on executions.requested minus due time; and how many arrived.

    One timer is parked and awaited first, so that the scheduler's consumer has its partitions
    (a group join) before the clock starts."""
    settings = kafka(bootstrap)
    topics = Topics(settings.topic_prefix)
    await ensure_topics(settings, [topics.executions_deferred, topics.executions_requested])
    producer = make_producer(settings, client_id="bench")
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, fetch_max_wait_ms=10)
    await producer.start()
    await consumer.start()
    due: dict[str, float] = {}
    lateness: list[float] = []
    arrived_ids: set[str] = set()
    total = int(rate * seconds)

    template = DeferredExecution(
        request=sample_request(0, datetime(2000, 1, 1, tzinfo=UTC))
    ).model_dump_json(by_alias=True)
    stamp = "2000-01-01T00:00:00Z"
    if stamp not in template:
        raise RuntimeError("the due time is not where the template expects it")

    async def park(numbers: range, due_at: datetime) -> None:
        """Park one timer per number, rendered from the template: the bench's own cost stays
        small next to the scheduler's."""
        due_text = due_at.isoformat().replace("+00:00", "Z")
        records = []
        for n in numbers:
            tag = f"{n:08d}"
            due[f"exe_{tag}"] = due_at.timestamp()
            value = template.replace("00000000", tag).replace(stamp, due_text).encode()
            records.append(Outgoing(topics.executions_deferred, value, f"wf_{n % 100}".encode()))
        await publish_all(producer, records)

    try:
        await consumer.topics()
        partitions = [
            TopicPartition(topics.executions_requested, p)
            for p in consumer.partitions_for_topic(topics.executions_requested) or ()
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)

        async def read() -> None:
            while len(lateness) < total:
                batches = await consumer.getmany(timeout_ms=50)
                arrived = time.time()
                for batch in batches.values():
                    for record in batch:
                        execution_id = json.loads(record.value)["execution_id"]
                        arrived_ids.add(execution_id)
                        if execution_id in due:
                            lateness.append(arrived - due.pop(execution_id))

        async with scheduler_process(settings, database_url):
            reader = asyncio.create_task(read())
            await park(range(99_999_999, 100_000_000), datetime.now(UTC))
            while "exe_99999999" not in arrived_ids:
                await asyncio.sleep(0.05)
            due.clear()
            started = time.monotonic()
            per_tick = rate // 10
            for tick in range(int(seconds * 10)):
                first = tick * per_tick
                await park(range(first, first + per_tick), datetime.now(UTC) + timedelta(seconds=2))
                await asyncio.sleep(max(started + (tick + 1) / 10 - time.monotonic(), 0))
            await asyncio.wait_for(reader, timeout=seconds + 60)
    finally:
        await consumer.stop()
        await producer.stop()
    quantiles = statistics.quantiles(lateness, n=100)
    return quantiles[49] * 1000, quantiles[98] * 1000, max(lateness) * 1000, len(lateness)


def process_cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


async def backend_cpu_seconds(pool: asyncpg.Pool, application_name: str) -> float | None:
    """CPU of the PostgreSQL backends serving ``application_name``, if /proc shows them."""
    pids = [
        row["pid"]
        for row in await pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name = $1", application_name
        )
    ]
    try:
        return sum(process_cpu_seconds(pid) for pid in pids)
    except OSError:
        return None


async def s2_idle_schedules(
    bootstrap: str, database_url: str, idle: int, due: int, seconds: float
) -> tuple[float, float | None, float]:
    """(scheduler CPU % of one core, its backends' CPU %, cron events fired meanwhile)."""
    settings = kafka(bootstrap)
    postgres = PostgresSettings(database_url=SecretStr(database_url))
    pool = await create_pool(postgres, application_name="bench")
    await migrate(pool)
    now = datetime.now(UTC)
    next_minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    new_year = datetime(now.year + 1, 1, 1, tzinfo=UTC)
    raw = await asyncpg.connect(database_url)
    try:
        started = time.perf_counter()
        await raw.copy_records_to_table(
            "cron_schedules",
            columns=["workflow_id", "tenant_id", "version", "cron", "timezone", "next_fire_at"],
            records=(
                (
                    f"wf_{n:07d}",
                    f"bench-{n % 100}",
                    1,
                    "* * * * *" if n < due else "0 0 1 1 *",
                    "UTC",
                    next_minute if n < due else new_year,
                )
                for n in range(idle + due)
            ),
        )
        await raw.execute("ANALYZE cron_schedules")
        print(
            f"    loaded {idle + due:,} schedules with COPY in "
            f"{time.perf_counter() - started:.1f} s"
        )
    finally:
        await raw.close()
    try:
        async with scheduler_process(settings, database_url) as (process, port):
            await asyncio.sleep(10)  # start-up and the first rebalances are not steady state
            cpu_before = process_cpu_seconds(process.pid)
            db_before = await backend_cpu_seconds(pool, "scheduler")
            fired_before = await cron_events_fired(port)
            started = time.monotonic()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - started
            cpu = process_cpu_seconds(process.pid) - cpu_before
            db_after = await backend_cpu_seconds(pool, "scheduler")
            fired = await cron_events_fired(port) - fired_before
        db = None if db_before is None or db_after is None else db_after - db_before
    finally:
        await pool.close()
    return cpu / elapsed * 100, None if db is None else db / elapsed * 100, fired


async def cron_events_fired(port: int) -> float:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/metrics") as reply,
    ):
        for line in (await reply.text()).splitlines():
            if line.startswith('scheduler_time_events_emitted_total{type="schedule.cron"}'):
                return float(line.split()[-1])
    return 0.0


async def run(
    bootstrap: str,
    server_url: str,
    *,
    rounds: int,
    contracts: int,
    timers: int,
    idle_schedules: int,
    s2_seconds: float,
) -> None:
    async with fresh_database(server_url) as url:
        pool = await create_pool(
            PostgresSettings(database_url=SecretStr(url)), application_name="bench"
        )
        await migrate(pool)
        await pool.close()
        b2 = statistics.median([await b2_claim_and_delete(url, timers) for _ in range(rounds)])
        print(
            f"B2  raw asyncpg claim-and-delete    {b2:>10,.0f} rows/s   (median of {rounds}, batches of 500)"
        )
    async with fresh_database(server_url) as url:
        due, find_ms, fired_rate, plan = await s1_contracts(bootstrap, url, contracts, rounds)
        print(
            f"S1  {contracts:,} contracts: found the {due:,} due today in {find_ms:.0f} ms (median of {rounds}); plan: {plan.strip()}"
        )
        print(f"S1  contract marks fired to the broker {fired_rate:>10,.0f} contracts/s")
    async with fresh_database(server_url) as url:
        p50, p99, worst, arrived = await s1_timer_lateness(bootstrap, url, rate=2000, seconds=10)
        print(
            f"S1  timer lateness at 2,000 parked/s  p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {worst:.0f} ms ({arrived:,} timers, park -> executions.requested)"
        )
    async with fresh_database(server_url) as url:
        drained = await s1_timer_drain(bootstrap, url, timers)
        print(
            f"S1  {timers:,} due timers drained      {drained:>10,.0f} timers/s ({drained / b2:.2f} x B2)"
        )
    async with fresh_database(server_url) as url:
        cpu, db_cpu, fired = await s2_idle_schedules(
            bootstrap, url, idle_schedules, 1000, s2_seconds
        )
        db_part = f", its PostgreSQL backends {db_cpu:.1f} %" if db_cpu is not None else ""
        print(
            f"S2  {idle_schedules:,} idle schedules + 1,000 due/min: scheduler {cpu:.1f} % of one core{db_part} (over {s2_seconds:.0f} s, {fired:,.0f} cron events fired)"
        )
