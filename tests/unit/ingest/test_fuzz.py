"""Fuzzing the adapters: any bytes, any JSON, any mutation of a published example → envelopes or
``Rejected``, never another exception.

``FUZZ_EXAMPLES`` sets the examples per strategy (150 in ``make test``). Run with 4,000 each, the
fuzzer found no failure; the edge cases its strategies reach only rarely are kept below as regular
tests, and any case it finds later belongs there too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.ingest import sources
from services.ingest.domain import Rejected

FIXTURES = Path(__file__).parents[2] / "fixtures" / "sources"
EXAMPLES = sorted(
    (path.parent.name, path) for path in FIXTURES.glob("*/*") if path.suffix in {".json", ".xml"}
)
SOURCES = sorted(sources.ADAPTERS)
FUZZ = settings(
    max_examples=int(__import__("os").environ.get("FUZZ_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "id",
                    "type",
                    "Type",
                    "source",
                    "detail-type",
                    "detail",
                    "action",
                    "Message",
                    "events",
                    "event",
                    "payload",
                    "data",
                    "channel",
                    "subscriptionType",
                    "objectId",
                    "agreement",
                    "ChangeEventHeader",
                    "changeType",
                    "entityName",
                    "subscriptionId",
                    "timeStamp",
                    "time",
                ]
            )
            | st.text(max_size=8),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


def outcome(source: str, raw: bytes) -> None:
    try:
        intake = sources.read(source, raw, tenant_id="acme", max_events=50)
    except Rejected as rejected:
        problems = rejected.problems
        assert problems, "a rejection names at least one problem"
        return
    for event in intake.events:
        event.model_dump_json()  # every envelope can travel


@FUZZ
@given(source=st.sampled_from(SOURCES), raw=st.binary(max_size=200))
def test_any_bytes(source: str, raw: bytes) -> None:
    outcome(source, raw)


@FUZZ
@given(source=st.sampled_from(SOURCES), value=json_values)
def test_any_json(source: str, value: object) -> None:
    outcome(source, json.dumps(value).encode())


def _mutations(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_mutations(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_mutations(item, (*path, index)))
    return found


def _replace(value: object, path: tuple[object, ...], new: object) -> object:
    if not path:
        return new
    head, *rest = path
    if isinstance(value, dict):
        return {k: (_replace(v, tuple(rest), new) if k == head else v) for k, v in value.items()}
    assert isinstance(value, list)
    return [(_replace(v, tuple(rest), new) if i == head else v) for i, v in enumerate(value)]


@FUZZ
@given(data=st.data())
def test_mutated_published_examples(data: st.DataObject) -> None:
    source, path = data.draw(st.sampled_from([e for e in EXAMPLES if e[1].suffix == ".json"]))
    try:
        example = json.loads(path.read_bytes())
    except json.JSONDecodeError:
        return  # printed as invalid JSON: covered by test_sources
    where = data.draw(st.sampled_from(_mutations(example)))
    mutated = _replace(example, where, data.draw(json_values))
    outcome(source, json.dumps(mutated).encode())


@FUZZ
@given(data=st.data())
def test_truncated_published_examples(data: st.DataObject) -> None:
    source, path = data.draw(st.sampled_from(EXAMPLES))
    raw = path.read_bytes()
    outcome(source, raw[: data.draw(st.integers(0, len(raw)))])


@pytest.mark.parametrize(
    ("source", "raw"),
    [
        # A number too large for a float, as an epoch-millisecond time.
        (
            "hubspot",
            b'[{"subscriptionType": "contact.creation", "objectId": 1, "occurredAt": 1e308}]',
        ),
        # Nesting deeper than the interpreter's recursion limit.
        ("aws", b"[" * 100_000 + b"]" * 100_000),
        # An SNS Message that is not a string.
        (
            "aws",
            b'{"Type": "Notification", "MessageId": "m", "Message": {"action": "subscribe-success"}}',
        ),
        # NaN is not JSON.
        ("native", b'{"type": "customer.created", "data": {"value": NaN}}'),
        # A NUL character in data, which PostgreSQL's jsonb cannot store.
        ("native", b'{"type": "customer.created", "data": {"customerName": "a\\u0000b"}}'),
        # A boolean where an id is expected.
        ("azure", b'{"id": true, "subscriptionId": "s", "action": "Renew"}'),
        # An empty XML document.
        ("salesforce", b"<"),
    ],
)
def test_rare_edge_cases(source: str, raw: bytes) -> None:
    with pytest.raises(Rejected):
        sources.read(source, raw, tenant_id="acme", max_events=50)
