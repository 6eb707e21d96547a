"""Fuzzing the executor's input (hypothesis) against the real PostgreSQL: whatever a record of
``executions.requested`` holds — strings PostgreSQL refuses (NUL, lone surrogates), NaN and
Infinity, deep nesting, long texts and ids, bytes that are not UTF-8 — the record handler
returns, and the record ends up recorded or dead-lettered with its reason. The cases found are
kept as explicit examples.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.executor.adapters.postgres import PostgresExecutionStore, migrate
from services.executor.domain import FINAL_STATUSES, RetryPolicy, StepOutcome
from services.executor.handlers import Engine, accept_execution_record
from shared.contracts import DeferredExecution, ExecutionDeadLetter, ExecutionRequest
from shared.contracts.storable import text_problem
from shared.contracts.workflows import Action
from shared.postgres import Pool

pytestmark = pytest.mark.integration


@dataclass
class Collected:
    """Dead letters, parked executions and pauses, kept in memory."""

    letters: list[ExecutionDeadLetter] = field(default_factory=list)
    parked: list[DeferredExecution] = field(default_factory=list)
    pauses: dict[tuple[str, str], datetime] = field(default_factory=dict)

    async def dead_letter(self, letter: ExecutionDeadLetter, key: bytes | None) -> None:
        letter.model_dump_json()  # what the broker would be given must encode
        self.letters.append(letter)

    async def defer(self, parked: DeferredExecution) -> None:
        self.parked.append(parked)

    async def paused_until(self, tenant_id: str, destination: str) -> datetime | None:
        return self.pauses.get((tenant_id, destination))

    async def pause(self, tenant_id: str, destination: str, until: datetime) -> None:
        self.pauses[(tenant_id, destination)] = until

    async def notify_failure(self, request: ExecutionRequest, error: Mapping[str, Any]) -> None:
        pass


async def echo(request: ExecutionRequest, step_index: int, action: Action) -> StepOutcome:
    """A receiver that answers with what it was sent, as a step log keeps it (a response
    excerpt): whatever the event held comes back in the step's result and error."""
    excerpt = json.dumps(request.event.data, ensure_ascii=False)[:2000] + "\x00\ud800"
    if step_index == 0:
        return StepOutcome(
            status="succeeded", attempts=1, result={"excerpt": excerpt, "n": float("nan")}
        )
    return StepOutcome.failed(
        "webhook_rejected", f"HTTP 400: {excerpt}", attempts=1, response_status=400
    )


text = st.text(st.characters(exclude_categories=()), max_size=50) | st.sampled_from(
    ["\x00", "a\x00b", "\ud800", "x\udfffy", "", "é" * 300]
)
numbers = (
    st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from([10**4000, -(10**300), 1e308, -0.0])
)
scalars = st.none() | st.booleans() | numbers | text
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(text, children, max_size=5),
    max_leaves=30,
)


def nested(depth: int) -> Any:
    value: Any = "bottom"
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


data_values = (
    st.dictionaries(text, json_values, max_size=8)
    | st.integers(1, 120).map(lambda depth: {"deep": nested(depth)})
    | st.integers(0, 200_000).map(lambda n: {"long": "x" * n})
)
ids = st.text(st.characters(exclude_categories=()), min_size=0, max_size=300) | st.sampled_from(
    ["x" * 256, "x" * 257, "x" * 3000]
)


def record(
    tenant: str,
    data: Any,
    *,
    execution_id: str | None = None,
    workflow_id: str = "wf-fuzz",
    event_id: str | None = None,
    subject: str | None = "acct-1",
    exit_value: Any = "paid",
) -> dict[str, Any]:
    return {
        "execution_id": execution_id if execution_id is not None else f"exe_{uuid.uuid4().hex}",
        "tenant_id": tenant,
        "workflow_id": workflow_id,
        "workflow_version": 1,
        "workflow": {
            "name": "Fuzzed",
            "trigger": "customer.updated",
            "status": "active",
            "exitConditions": {
                "rules": [{"field": "status", "operator": "equals", "value": exit_value}]
            },
            "errorHandling": {"onError": "continue"},
            "actions": [
                {"type": "webhook", "url": "https://hooks.example.com/a"},
                {"type": "webhook", "url": "https://hooks.example.com/b"},
            ],
        },
        "event": {
            "specversion": "1.0",
            "id": event_id if event_id is not None else f"evt-{uuid.uuid4().hex}",
            "source": "native",
            "type": "customer.updated",
            "tenantid": tenant,
            "subject": subject,
            "data": data,
        },
    }


def encoded(document: Any, how: str) -> bytes:
    if how == "ascii":
        return json.dumps(document).encode()
    return json.dumps(document, ensure_ascii=False).encode("utf-8", errors="surrogatepass")


async def handled_exactly_once_or_dead_lettered(
    pool: Pool, value: bytes, execution_id: Any
) -> None:
    collected = Collected()
    engine = Engine(
        store=PostgresExecutionStore(pool),
        actions={"webhook": echo},
        dead_letters=collected,
        deferrals=collected,
        pauses=collected,
        notifier=collected,
        retry=RetryPolicy(
            wait_initial_seconds=0,
            wait_max_seconds=0,
            inline_max_seconds=0,
            max_retry_after_seconds=1,
        ),
        lease_seconds=5,
    )
    await accept_execution_record(value, b"wf-fuzz", engine)  # must not raise

    row = (
        await pool.fetchrow("SELECT status FROM executions WHERE id = $1", execution_id)
        if isinstance(execution_id, str) and text_problem(execution_id) is None
        else None
    )
    recorded = row is not None and row["status"] in FINAL_STATUSES
    assert recorded or collected.letters, "neither recorded nor dead-lettered"
    for letter in collected.letters:
        assert letter.error["code"] in {
            "invalid_request",
            "unstorable_request",
            "execution_conflict",
        }
    if recorded:
        steps = await pool.fetch(
            "SELECT status, result, error FROM execution_steps WHERE execution_id = $1"
            " ORDER BY step_index",
            execution_id,
        )
        assert [s["status"] for s in steps] == ["succeeded", "failed"]
        assert "\x00" not in json.dumps([dict(s) for s in steps])


@pytest.fixture(scope="module")
async def migrated(pool: Pool) -> Pool:
    await migrate(pool)
    return pool


FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@FUZZ
@given(data=data_values, how=st.sampled_from(["ascii", "utf8"]), subject=st.none() | ids)
@example(data={"note": "a\x00b"}, how="ascii", subject="acct-1")
@example(data={"note": "\ud800"}, how="ascii", subject="acct-1")
@example(data={"note": "\ud800"}, how="utf8", subject="acct-1")
@example(data={"n": float("nan")}, how="ascii", subject="acct-1")
@example(data={"n": float("inf")}, how="ascii", subject="acct-1")
@example(data={"deep": nested(40)}, how="ascii", subject="acct-1")
@example(data={"n": 10**4000}, how="ascii", subject="acct-1")
@example(data={"a\x00": 1}, how="ascii", subject="acct-1")
@example(data={}, how="ascii", subject="x" * 257)
@example(data={}, how="ascii", subject="a\x00")
async def test_any_event_data_is_recorded_or_dead_lettered(
    migrated: Pool, tenant_id: str, data: Any, how: str, subject: str | None
) -> None:
    document = record(tenant_id, data, subject=subject)
    await handled_exactly_once_or_dead_lettered(
        migrated, encoded(document, how), document["execution_id"]
    )


@FUZZ
@given(
    execution_id=ids,
    workflow_id=ids,
    event_id=ids,
    tenant=st.sampled_from(["", "t" * 65, "bad tenant", "ok"]),
    exit_value=scalars,
)
@example(execution_id="x" * 3000, workflow_id="wf", event_id="e", tenant="ok", exit_value="paid")
@example(execution_id="exe", workflow_id="x" * 3000, event_id="e", tenant="ok", exit_value="paid")
@example(execution_id="exe", workflow_id="wf", event_id="x" * 3000, tenant="ok", exit_value="paid")
@example(execution_id="\ud800", workflow_id="wf", event_id="e", tenant="ok", exit_value="paid")
@example(execution_id="a\x00b", workflow_id="wf", event_id="e", tenant="ok", exit_value="paid")
@example(execution_id="exe", workflow_id="a\x00b", event_id="e", tenant="ok", exit_value="paid")
@example(execution_id="exe-nul", workflow_id="wf", event_id="e", tenant="ok", exit_value="a\x00b")
@example(execution_id="exe-sur", workflow_id="wf", event_id="e", tenant="ok", exit_value="\udfff")
async def test_any_ids_and_definitions_are_recorded_or_dead_lettered(
    migrated: Pool,
    tenant_id: str,
    execution_id: str,
    workflow_id: str,
    event_id: str,
    tenant: str,
    exit_value: Any,
) -> None:
    tenant = tenant_id if tenant == "ok" else tenant
    unique = f"{execution_id}{uuid.uuid4().hex}"
    document = record(
        tenant,
        {"status": "trial"},
        execution_id=unique,
        workflow_id=workflow_id,
        event_id=event_id,
        exit_value=exit_value,
    )
    await handled_exactly_once_or_dead_lettered(migrated, encoded(document, "ascii"), unique)


@FUZZ
@given(value=st.binary(max_size=2000) | text.map(lambda t: t.encode("utf-8", "surrogatepass")))
@example(value=b"")
@example(value=b"\xff\xfe")
@example(value=b"[" * 100_000)
@example(value=b"{}")
@example(value=b"null")
async def test_any_bytes_are_dead_lettered(migrated: Pool, value: bytes) -> None:
    await handled_exactly_once_or_dead_lettered(migrated, value, None)
