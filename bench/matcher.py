"""``python -m bench matcher``: the matcher's figures M1-M6 (targets in ``../shared/BENCHMARKS.md``).

In process, in a child interpreter of its own (so that its RSS is the index's): M1 (10,000
workflows), M2 (``--size``, a million by default: throughput, RSS, load time), M3 (the index
against evaluating every workflow in turn), M4 (index update latency), M6 (py-a-tree on the
same workflows and events, under the Python >= 3.13 it needs). On the broker: M2's time to
ready from a changelog holding ``--size`` workflows (a real matcher process), M4's
save-to-first-match latency (config API and matcher), M5 (the matcher against B1 in the same
run, with the share of time its read-your-writes check takes). Throughput is process CPU time
(one core, whatever else the shared machine runs), the best of ``--rounds`` rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from prometheus_client import REGISTRY
from pydantic import SecretStr

from bench import workload
from services.config_api.service import ConfigApiService
from services.config_api.settings import ConfigApiSettings
from services.matcher.adapters.changelog import settle_memory
from services.matcher.domain import WorkflowIndex
from services.matcher.service import MatcherService
from services.matcher.settings import MatcherSettings
from shared import tenancy
from shared.contracts import CloudEvent, ExecutionRequest, Topics
from shared.kafka import encode, ensure_topics, tenant_partition, tenant_partitioner
from shared.postgres import create_pool
from shared.settings import KafkaSettings, PostgresSettings
from shared.testing import free_port
from shared.workflows import ConditionGroup, evaluate

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".bench" / "atree-venv"

# --------------------------------------------------------------------------- in process (child)


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _build(records: list[bytes]) -> tuple[Any, float]:
    """The index of ``records``, and the µs one record took, settling memory as the reader does
    after each batch."""

    index = WorkflowIndex()
    started = time.process_time()
    for start in range(0, len(records), 500):
        for record in records[start : start + 500]:
            index.apply(record)
        settle_memory()
    return index, (time.process_time() - started) / len(records) * 1e6


def _throughput(match: Callable[[Any], object], events: list[Any], rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        started = time.process_time()
        for event in events:
            match(event)
        best = max(best, len(events) / (time.process_time() - started))
    return best


def _update_latencies(index: Any, size: int, count: int = 2000) -> tuple[float, float, float]:
    """p50, p99 and max (ms, this process's CPU time: the machine is shared) of single
    changes: new conditions, pauses, deletions."""
    rng = random.Random(3)
    spent = []
    for number in rng.sample(range(size), count):
        kind = rng.random()
        workflow_id = f"wf_{number:07d}"
        if kind < 0.25:
            record = workload.record(workflow_id, 2, None)
        else:
            record = workload.fast_record(
                workflow_id,
                workload.conditions(rng, size),
                version=2,
                status="paused" if kind < 0.5 else "active",
            )
        started = time.process_time()
        index.apply(record)
        spent.append(time.process_time() - started)
    quantiles = statistics.quantiles(spent, n=100)
    return quantiles[49] * 1000, quantiles[98] * 1000, max(spent) * 1000


def _naive(conditions: list[dict[str, Any] | None], events: list[Any]) -> float:

    parsed = [None if c is None else ConditionGroup.model_validate(c) for c in conditions]

    def match(event: Any) -> list[int]:
        return [
            number
            for number, condition in enumerate(parsed)
            if condition is None or evaluate(condition, event.data)
        ]

    return _throughput(match, events, 1)


def core(size: int, rounds: int, *, peer: bool = True) -> None:
    """Run in a child: print each figure as a JSON line."""
    small = 10_000
    events = workload.events(20_000, small)
    index, load_us = _build(workload.workflow_records(small))
    m1 = _throughput(index.matching, events, rounds)
    matches = sum(len(index.matching(event)) for event in events) / len(events)
    naive = _naive(workload.workflow_conditions(small), events[:300])
    p50, p99, worst = _update_latencies(index, small)
    _emit("M1", workflows=small, events_per_s=m1, matches_per_event=matches, load_us=load_us)
    _emit("M3", index=m1, naive=naive, ratio=m1 / naive)
    _emit("M4", workflows=small, p50_ms=p50, p99_ms=p99, max_ms=worst)
    for always in (10, 100):
        with_always, _ = _build(workload.workflow_records(small, always=always))
        rate = _throughput(with_always.matching, events, rounds)
        _emit("M1-always", workflows=small, always=always, events_per_s=rate)
    del index, with_always

    baseline = _rss_mib()
    records = workload.workflow_records(size)
    large_events = workload.events(20_000, size)
    index, load_us = _build(records)
    del records
    rss = _rss_mib()
    m2 = _throughput(index.matching, large_events, rounds)
    m1_again = _throughput(_build(workload.workflow_records(small))[0].matching, events, rounds)
    matches = sum(len(index.matching(event)) for event in large_events[:5000]) / 5000
    p50, p99, worst = _update_latencies(index, size)
    _emit(
        "M2",
        workflows=size,
        events_per_s=m2,
        m1_same_run=m1_again,
        ratio=m2 / m1_again,
        matches_per_event=matches,
        rss_mib=rss,
        rss_index_mib=rss - baseline,
        load_us=load_us,
    )
    _emit("M4", workflows=size, p50_ms=p50, p99_ms=p99, max_ms=worst)
    del index
    for peer_size in (small, size) if peer else ():
        _emit("M6", **_peer(peer_size, rounds))


def _emit(figure: str, **values: Any) -> None:
    print(json.dumps({"figure": figure, **values}), flush=True)


# --------------------------------------------------------------------------- M6: py-a-tree

_ATREE_ATTRIBUTES = {
    "customerName": "string",
    "productName": "string",
    "contractId": "string",
    "marketplace": "string",
    "offerName": "string",
    "value": "integer",
    "duration": "integer",
    "contractEndDate": "integer",
}


def _atree_literal(field: str, value: Any) -> str | None:
    if field == "contractEndDate":
        return str(date.fromisoformat(value).toordinal()) if isinstance(value, str) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return None


def to_atree(condition: dict[str, Any]) -> str | None:  # noqa: PLR0911 - one answer per operator
    """The condition in a-tree's language, or None where its operators do not reach.

    Equivalent for events that carry every field (a-tree's undefined attributes make a
    predicate unknown, where ours make ``not_equals`` true): the benchmark's events do.
    """
    if "field" not in condition:
        parts = [to_atree(part) for part in condition.get("rules", condition.get("conditions", []))]
        if any(part is None for part in parts):
            return None
        joiner = " or " if condition.get("logic") == "OR" else " and "
        return "(" + joiner.join(part for part in parts if part is not None) + ")"
    field, operator = condition["field"], condition["operator"]
    if field not in _ATREE_ATTRIBUTES:
        return None
    if operator == "is_not_empty" and _ATREE_ATTRIBUTES[field] == "string":
        return f'{field} <> ""'
    symbols = {"equals": "=", "not_equals": "<>", "greater_than": ">", "less_than": "<"}
    if operator in symbols:
        literal = _atree_literal(field, condition["value"])
        return None if literal is None else f"{field} {symbols[operator]} {literal}"
    if operator in ("in", "not_in"):
        literals = [_atree_literal(field, value) for value in condition["value"]]
        if any(literal is None for literal in literals):
            return None
        return f"{field} {operator} [{', '.join(str(literal) for literal in literals)}]"
    return None  # contains (substring), is_empty: no a-tree operator


def _atree_event(data: dict[str, Any]) -> dict[str, Any]:
    values = {name: data[name] for name in _ATREE_ATTRIBUTES if name in data}
    values["contractEndDate"] = date.fromisoformat(data["contractEndDate"]).toordinal()
    return values


def _peer_python() -> Path | None:
    """The interpreter of a Python >= 3.13 virtualenv with py-a-tree, made on first use."""
    python = PEER_VENV / "bin" / "python"
    if python.exists():
        return python
    candidates = [os.environ.get("BENCH_PEER_PYTHON", "")]
    candidates += [shutil.which(name) or "" for name in ("python3.14", "python3.13")]
    candidates += sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.1[3-9]*/bin/python3"))
    base = next((c for c in candidates if c and _runs(c)), None)
    if base is None:
        return None
    subprocess.run([base, "-m", "venv", str(PEER_VENV)], check=True)
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "py-a-tree==0.1.0"], check=False
    )
    return python if installed.returncode == 0 else None


def _runs(python: str) -> bool:
    """Whether ``python`` is an interpreter of 3.13 or later that starts."""
    check = [python, "-c", "import sys; sys.exit(sys.version_info < (3, 13))"]
    return subprocess.run(check, capture_output=True, check=False).returncode == 0


def _peer(size: int, rounds: int, events_count: int = 2_000) -> dict[str, Any]:
    """py-a-tree and our index on the workflows a-tree can express, the same events (fewer
    than M1's: py-a-tree answers about a thousand a second at ten thousand workflows)."""
    conditions = workload.workflow_conditions(size)
    expressible = [
        (number, text)
        for number, condition in enumerate(conditions)
        if condition is not None and (text := to_atree(condition)) is not None
    ]
    events = workload.events(events_count, size)
    python = _peer_python()
    if python is None:
        return {"workflows": len(expressible), "error": "no Python >= 3.13 with py-a-tree here"}
    job = {
        "attributes": _ATREE_ATTRIBUTES,
        "expressions": expressible,
        "events": [_atree_event(event.data) for event in events],
        "rounds": rounds,
    }
    peer = subprocess.run(
        [str(python), str(Path(__file__).with_name("atree_peer.py"))],
        input=json.dumps(job).encode(),
        capture_output=True,
        check=True,
    )
    answer = json.loads(peer.stdout)
    ours, load_us = _build(
        [workload.fast_record(f"wf_{number:07d}", conditions[number]) for number, _ in expressible]
    )
    rate = _throughput(ours.matching, events, rounds)
    disagreements = sum(
        sorted(int(workflow.id[3:]) for workflow in ours.matching(event)) != found
        for event, found in zip(events, answer["matches"], strict=True)
    )
    return {
        "workflows": len(expressible),
        "of": size,
        "ours_events_per_s": rate,
        "atree_events_per_s": answer["events_per_second"],
        "ratio": rate / answer["events_per_second"],
        "ours_load_s": load_us * len(expressible) / 1e6,
        "atree_load_s": answer["insert_seconds"],
        "events_answered_differently": disagreements,
    }


# --------------------------------------------------------------------------- on the broker


async def _wait_for(condition: Callable[[], Awaitable[bool]], within: float) -> None:
    async with asyncio.timeout(within):
        while not await condition():
            await asyncio.sleep(0.2)


def _metric(name: str) -> float:

    return REGISTRY.get_sample_value(name) or 0.0


async def _publish(bootstrap: str, topic: str, records: list[tuple[bytes, bytes]]) -> None:

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=5,
        partitioner=tenant_partitioner,
        max_batch_size=512 * 1024,
    )
    await producer.start()
    try:
        for start in range(0, len(records), 5000):
            for key, value in records[start : start + 5000]:
                await producer.send(topic, value, key=key)
            await producer.flush()
    finally:
        await producer.stop()


def _tenants(partitions: int) -> tuple[str, ...]:

    chosen: dict[int, str] = {}
    while len(chosen) < partitions:
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        chosen.setdefault(tenant_partition(tenant, partitions), tenant)
    return tuple(chosen.values())


async def m5(kafka: Any, postgres: Any, events_count: int) -> dict[str, float]:
    """Events/s of the matcher service on the broker, 10,000 workflows over one tenant per
    partition; and how much of its time the per-batch changelog check took."""

    topics = Topics(kafka.topic_prefix)
    await ensure_topics(
        kafka,
        [topics.events_normalized, topics.workflows_changelog, topics.executions_requested],
    )
    tenants = _tenants(kafka.topic_partitions)
    records = workload.workflow_records(10_000, tenants=tenants)
    await _publish(
        kafka.bootstrap_servers,
        topics.workflows_changelog,
        [(f"{tenants[n % len(tenants)]}/wf_{n:07d}".encode(), r) for n, r in enumerate(records)],
    )
    events = workload.events(events_count, 10_000, tenants=tenants)
    await _publish(
        kafka.bootstrap_servers,
        topics.events_normalized,
        [(event.tenantid.encode(), encode(event)) for event in events],
    )
    handled = _metric("matcher_match_latency_seconds_count")
    settings = MatcherSettings(host="127.0.0.1", port=0, kafka=kafka, postgres=postgres)
    async with MatcherService(settings):

        async def started() -> bool:
            return _metric("matcher_match_latency_seconds_count") > handled

        await _wait_for(started, 120)
        begin, first = time.perf_counter(), _metric("matcher_match_latency_seconds_count")
        # The changelog is read by now: what follows is the check's steady cost.
        wait_sum = _metric("matcher_changelog_wait_seconds_sum")
        wait_count = _metric("matcher_changelog_wait_seconds_count")

        async def finished() -> bool:
            return _metric("matcher_match_latency_seconds_count") >= handled + events_count

        await _wait_for(finished, 600)
        elapsed = time.perf_counter() - begin
    waited = _metric("matcher_changelog_wait_seconds_sum") - wait_sum
    batches = _metric("matcher_changelog_wait_seconds_count") - wait_count
    return {
        "events_per_s": (handled + events_count - first) / elapsed,
        "check_share": waited / elapsed,
        "check_ms_per_batch": waited / max(batches, 1) * 1000,
        "events_per_batch": events_count / max(batches, 1),
    }


async def time_to_ready(kafka: Any, database_url: str, size: int) -> dict[str, float]:
    """A real matcher process reading a changelog of ``size`` workflows: seconds until every
    one is in its index, and its RSS then."""

    topics = Topics(kafka.topic_prefix)
    await ensure_topics(kafka, [topics.workflows_changelog, topics.events_normalized])
    tenants = _tenants(kafka.topic_partitions)
    records = workload.workflow_records(size, tenants=tenants)
    await _publish(
        kafka.bootstrap_servers,
        topics.workflows_changelog,
        [(f"{tenants[n % len(tenants)]}/wf_{n:07d}".encode(), r) for n, r in enumerate(records)],
    )
    del records
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "TOPIC_PREFIX": kafka.topic_prefix,
        "DATABASE_URL": database_url,
        "MATCHER_PORT": str(port),
        "KAFKA_TOPIC_PARTITIONS": str(kafka.topic_partitions),
        "KAFKA_SESSION_TIMEOUT_MS": "2000",
        "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
        "KAFKA_FETCH_MAX_WAIT_MS": "50",
        "LOG_LEVEL": "WARNING",
    }
    started = time.perf_counter()
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.matcher", env=env
    )
    try:
        async with aiohttp.ClientSession() as http:

            async def loaded() -> bool:
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                        text = await response.text()
                        total = sum(
                            float(line.rsplit(" ", 1)[1])
                            for line in text.splitlines()
                            if line.startswith("matcher_workflows_loaded{")
                        )
                        return total >= size
                return False

            await _wait_for(loaded, 3600)
        ready = time.perf_counter() - started
        status = Path(f"/proc/{process.pid}/status").read_text()  # noqa: ASYNC240 - /proc, instant
        rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS"))
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 60)
    return {"seconds": ready, "rss_mib": rss / 1024}


async def save_to_match(kafka: Any, postgres: Any, attempts: int = 30) -> dict[str, float]:
    """ms from a save's request to the execution request of an event sent when it answered."""

    topics = Topics(kafka.topic_prefix)
    await ensure_topics(
        kafka,
        [topics.events_normalized, topics.workflows_changelog, topics.executions_requested],
    )
    pool = await create_pool(postgres, application_name="bench")
    api = ConfigApiService(
        ConfigApiSettings(host="127.0.0.1", port=0, kafka=kafka, postgres=postgres)
    )
    matcher = MatcherService(
        MatcherSettings(host="127.0.0.1", port=0, kafka=kafka, postgres=postgres)
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka.bootstrap_servers, acks="all", partitioner=tenant_partitioner
    )
    tail = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, fetch_max_wait_ms=10)
    saved, matched = [], []
    async with api, matcher:
        tenant = f"bench-{uuid.uuid4().hex[:6]}"
        await tenancy.create_tenant(pool, tenant)
        key = await tenancy.create_api_key(pool, tenant)
        await producer.start()
        await tail.start()
        tps = [
            TopicPartition(topics.executions_requested, p) for p in range(kafka.topic_partitions)
        ]
        tail.assign(tps)
        await tail.seek_to_end(*tps)
        url = f"http://127.0.0.1:{api.http.bound_port}/api/workflows"
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
            for attempt in range(attempts):
                body = {
                    "name": f"latency {attempt}",
                    "trigger": "customer.created",
                    "conditions": {
                        "rules": [{"field": "attempt", "operator": "equals", "value": attempt}]
                    },
                    "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}],
                    "active": True,
                }
                begin = time.perf_counter()
                async with http.post(url, json=body) as response:
                    assert response.status == 201, await response.text()
                saved.append(time.perf_counter() - begin)
                event = CloudEvent(
                    id=f"lat-{uuid.uuid4().hex}",
                    source="native",
                    type="customer.created",
                    tenantid=tenant,
                    data={"attempt": attempt},
                )
                await producer.send_and_wait(
                    topics.events_normalized, encode(event), key=tenant.encode()
                )
                found = False
                while not found:
                    for records in (await tail.getmany(timeout_ms=100)).values():
                        found = found or any(
                            ExecutionRequest.model_validate_json(r.value or b"").event.id
                            == event.id
                            for r in records
                        )
                matched.append(time.perf_counter() - begin)
        await tail.stop()
        await producer.stop()
    await pool.close()
    return {
        "save_p50_ms": statistics.median(saved) * 1000,
        "save_max_ms": max(saved) * 1000,
        "match_p50_ms": statistics.median(matched) * 1000,
        "match_max_ms": max(matched) * 1000,
    }


# --------------------------------------------------------------------------- the report


def _line(text: str) -> None:
    print(text, flush=True)


def _report_core(figure: dict[str, Any]) -> None:
    name = figure["figure"]
    if name == "M1":
        _line(
            f"M1  index, {figure['workflows']:,} workflows       {figure['events_per_s']:>10,.0f} events/s"
            f"  ({figure['matches_per_event']:.2f} matches/event; load {figure['load_us']:.0f} µs/workflow)"
        )
    elif name == "M1-always":
        _line(
            f"M1  … with {figure['always']} always-candidates  {figure['events_per_s']:>10,.0f} events/s"
        )
    elif name == "M3":
        _line(
            f"M3  naive loop, 10,000 workflows   {figure['naive']:>10,.0f} events/s"
            f"  (index {figure['ratio']:,.0f} x the loop)"
        )
    elif name == "M4":
        _line(
            f"M4  index update, {figure['workflows']:,} workflows  p50 {figure['p50_ms']:.3f} ms,"
            f" p99 {figure['p99_ms']:.3f} ms, max {figure['max_ms']:.2f} ms"
        )
    elif name == "M2":
        _line(
            f"M2  index, {figure['workflows']:,} workflows    {figure['events_per_s']:>10,.0f} events/s"
            f"  ({figure['ratio']:.2f} x M1 in the same run, {figure['m1_same_run']:,.0f};"
            f" {figure['matches_per_event']:.2f} matches/event)"
        )
        _line(
            f"M2  RSS {figure['rss_mib']:,.0f} MiB ({figure['rss_index_mib']:,.0f} MiB for the index);"
            f" load {figure['load_us']:.0f} µs/workflow"
        )
    elif name == "M6" and "error" in figure:
        _line(f"M6  py-a-tree: not measured ({figure['error']})")
    elif name == "M6":
        _line(
            f"M6  {figure['workflows']:,} of {figure['of']:,} workflows a-tree can express: ours"
            f" {figure['ours_events_per_s']:,.0f} events/s, py-a-tree {figure['atree_events_per_s']:,.0f}"
            f" ({figure['ratio']:.2f} x); load ours {figure['ours_load_s']:.1f} s, a-tree"
            f" {figure['atree_load_s']:.1f} s; {figure['events_answered_differently']} events"
            " answered differently"
        )


async def run(
    bootstrap: str,
    database_url: str,
    *,
    rounds: int,
    size: int,
    b1: Callable[[str, int], Awaitable[float]],
) -> None:
    """Every matcher figure: the in-process ones in a child, then those on the broker."""

    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.matcher",
        "--size",
        str(size),
        "--rounds",
        str(rounds),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    assert child.stdout is not None
    async for raw in child.stdout:
        _report_core(json.loads(raw))
    if await child.wait() != 0:
        _line(f"the in-process matcher figures stopped with {child.returncode}")

    def kafka() -> KafkaSettings:
        return KafkaSettings(
            bootstrap_servers=bootstrap,
            TOPIC_PREFIX=f"bench{uuid.uuid4().hex[:6]}.",
            topic_partitions=4,
            session_timeout_ms=2000,
            heartbeat_interval_ms=500,
            fetch_max_wait_ms=10,
        )

    postgres = PostgresSettings(database_url=SecretStr(database_url))
    pairs = []
    for _ in range(rounds):
        baseline = await b1(bootstrap, 20_000)
        pairs.append((baseline, await m5(kafka(), postgres, 20_000)))
    baseline = statistics.median(b for b, _ in pairs)
    rate = statistics.median(m["events_per_s"] for _, m in pairs)
    share = statistics.median(m["check_share"] for _, m in pairs)
    per_batch = statistics.median(m["check_ms_per_batch"] for _, m in pairs)
    batch = statistics.median(m["events_per_batch"] for _, m in pairs)
    _line(f"B1  raw aiokafka passthrough       {baseline:>10,.0f} msg/s   (median of {rounds})")
    _line(
        f"M5  matcher on Kafka, 10,000 wf    {rate:>10,.0f} events/s  ({rate / baseline:.2f} x B1);"
        f" read-your-writes check {share:.1%} of the time ({per_batch:.1f} ms per batch of"
        f" {batch:.0f} events)"
    )
    latency = await save_to_match(kafka(), postgres)
    _line(
        f"M4  API save → first match         p50 {latency['match_p50_ms']:.0f} ms, max"
        f" {latency['match_max_ms']:.0f} ms (the save itself: p50 {latency['save_p50_ms']:.0f} ms,"
        f" max {latency['save_max_ms']:.0f} ms)"
    )
    ready = await time_to_ready(kafka(), database_url, size)
    _line(
        f"M2  ready from a changelog of {size:,}: {ready['seconds']:.0f} s; matcher RSS"
        f" {ready['rss_mib']:,.0f} MiB"
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="the matcher's in-process figures (JSON lines)")
    parser.add_argument("--size", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="leave M6 (py-a-tree) out")
    arguments = parser.parse_args()
    core(arguments.size, arguments.rounds, peer=not arguments.no_peer)
