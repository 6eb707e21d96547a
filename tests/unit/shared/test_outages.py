"""Waiting out an unreachable dependency: which errors are an outage, the retried unit of work,
the consumer loop that keeps a record uncommitted while it waits, and the HTTP answer (503)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest
import stamina
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiokafka import TopicPartition
from aiokafka.errors import KafkaConnectionError

from shared.kafka import ConsumerLoop
from shared.lifecycle import (
    is_connection_error,
    is_database_outage,
    outage_code,
    wait_out_outages,
)
from shared.observability import HttpServer

OUTAGES = [
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.CannotConnectNowError("the database system is shutting down"),
    asyncpg.InterfaceError(
        "cannot call Transaction.__aexit__(): the underlying connection is closed"
    ),
    asyncpg.InterfaceError("connection is closed"),
]
BUGS = [
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.ProtocolViolationError("bind message supplies 1 parameters"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
    asyncpg.UndefinedTableError('relation "executions" does not exist'),
    ValueError("boom"),
    KeyError("tenant_id"),
]


@pytest.mark.parametrize("error", OUTAGES, ids=repr)
def test_asyncpg_losing_its_server_is_an_outage(error: Exception) -> None:
    assert is_database_outage(error)
    assert is_connection_error(error)
    assert outage_code(error) == "database_unavailable"


@pytest.mark.parametrize("error", BUGS, ids=repr)
def test_a_bug_is_not_an_outage(error: Exception) -> None:
    assert not is_database_outage(error)
    assert not is_connection_error(error)
    assert outage_code(error) is None


def test_a_refused_connection_is_the_databases_outage_and_a_broker_error_the_brokers() -> None:
    # asyncpg reports a server that is not listening as the OSError itself.
    assert outage_code(ConnectionRefusedError(111, "Connection refused")) == "database_unavailable"
    assert not is_database_outage(ConnectionRefusedError())
    assert outage_code(KafkaConnectionError("no broker")) == "broker_unavailable"


class Flaky:
    """Fails with ``errors`` in turn, then returns how many calls it took."""

    def __init__(self, *errors: BaseException) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return self.calls


async def test_work_is_run_again_from_its_start_until_the_outage_ends() -> None:
    work = Flaky(ConnectionRefusedError(), asyncpg.CannotConnectNowError("starting up"), OUTAGES[0])
    with stamina.set_testing(True, attempts=10):
        assert await wait_out_outages(work, what="test") == 4
    assert work.calls == 4


async def test_a_bug_is_raised_at_once_even_after_an_outage() -> None:
    bug = asyncpg.UniqueViolationError("duplicate key")
    work = Flaky(OUTAGES[1], bug)
    with stamina.set_testing(True, attempts=10), pytest.raises(asyncpg.UniqueViolationError):
        await wait_out_outages(work, what="test")
    assert work.calls == 2


async def test_the_wait_has_no_limit_but_ends_when_cancelled() -> None:
    calls = 0

    async def down() -> None:
        nonlocal calls
        calls += 1
        raise ConnectionRefusedError("still down")

    waiting = asyncio.ensure_future(wait_out_outages(down, what="test"))
    async with asyncio.timeout(5):
        while calls < 2:  # the first retry comes after the first backoff (~0.2 s)
            await asyncio.sleep(0.01)
    assert not waiting.done()
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


class Record:
    def __init__(self, offset: int) -> None:
        self.offset = offset


class OneBatchConsumer:
    """A consumer that hands out one batch of two partitions, then nothing; records commits."""

    def __init__(self) -> None:
        self.batches: list[dict[TopicPartition, list[Record]]] = [
            {
                TopicPartition("t", 0): [Record(0), Record(1)],
                TopicPartition("t", 1): [Record(7)],
            }
        ]
        self.commits: list[dict[TopicPartition, int]] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def getmany(self, timeout_ms: int) -> dict[TopicPartition, list[Record]]:
        return self.batches.pop(0) if self.batches else {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)


async def test_a_consumer_loop_handles_a_batch_again_after_an_outage_then_commits() -> None:
    consumer = OneBatchConsumer()
    handled: list[tuple[int, list[int]]] = []
    outages = {0: [OUTAGES[0], ConnectionRefusedError()]}

    async def handle(tp: TopicPartition, records: list[Any]) -> None:
        handled.append((tp.partition, [record.offset for record in records]))
        failures = outages.get(tp.partition)
        if failures:
            raise failures.pop(0)

    loop = ConsumerLoop(consumer, handle, name="test")  # type: ignore[arg-type]
    with stamina.set_testing(True, attempts=10):
        await loop.iteration()
    assert handled.count((0, [0, 1])) == 3
    assert handled.count((1, [7])) == 1
    assert consumer.commits == [{TopicPartition("t", 0): 2, TopicPartition("t", 1): 8}]


async def test_a_consumer_loop_stops_on_a_bug_without_committing() -> None:
    consumer = OneBatchConsumer()

    async def handle(tp: TopicPartition, records: list[Any]) -> None:
        raise KeyError("tenant_id")

    loop = ConsumerLoop(consumer, handle, name="test")  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        await loop.iteration()
    assert consumer.commits == []


def _server() -> HttpServer:
    async def ready() -> bool:
        return True

    return HttpServer(
        host="127.0.0.1",
        port=0,
        is_ready=lambda: True,
        check_ready=ready,
        outage_code=outage_code,
    )


async def _answer(error: Exception) -> tuple[int, dict[str, Any], str | None]:
    async def failing(_request: web.Request) -> web.Response:
        raise error

    server = _server()
    request = make_mocked_request("POST", "/v1/events", app=server.app)
    response = await server._errors(request, failing)
    assert isinstance(response, web.Response)
    assert response.body is not None
    body = json.loads(bytes(response.body))  # type: ignore[arg-type]
    return response.status, body, response.headers.get("Retry-After")


async def test_a_route_that_meets_an_outage_answers_503_with_what_is_missing() -> None:
    status, body, retry_after = await _answer(ConnectionRefusedError(111, "Connection refused"))
    assert (status, body["error"]["code"], retry_after) == (503, "database_unavailable", "5")
    status, body, _ = await _answer(OUTAGES[1])
    assert (status, body["error"]["code"]) == (503, "database_unavailable")


async def test_a_route_that_meets_a_bug_still_answers_500() -> None:
    status, body, retry_after = await _answer(asyncpg.UndefinedTableError("no table"))
    assert (status, body["error"]["code"], retry_after) == (500, "internal_error", None)
