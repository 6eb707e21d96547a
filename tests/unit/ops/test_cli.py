"""The ``wf`` CLI's pure parts: arguments, help, tables, replay ids (the e2e suite runs it for real)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import ConsumerRecord

from ops.cli.kafka import event_replay, execution_replay, replay_execution_id
from ops.cli.main import main, parse_since, parser
from ops.cli.output import table
from shared.contracts import EventDeadLetter, Topics

COMMANDS = [
    "apply",
    "list",
    "activate",
    "pause",
    "test",
    "send",
    "executions",
    "execution",
    "lag",
    "replay",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    assert f"usage: wf {command}" in capsys.readouterr().out


def test_a_bad_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["replay", "everything"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_common_options_go_before_or_after_the_command() -> None:
    before = parser().parse_args(["--json", "--api-url", "http://a", "list"])
    after = parser().parse_args(["list", "--json", "--api-url", "http://a"])
    assert (before.json, before.api_url) == (after.json, after.api_url) == (True, "http://a")


def test_since_takes_durations_and_iso_times() -> None:
    now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now=now) == now - timedelta(minutes=90)
    assert parse_since("2d", now=now) == now - timedelta(days=2)
    assert parse_since("2026-10-31T08:00:00", now=now) == datetime(2026, 10, 31, 8, tzinfo=UTC)
    with pytest.raises(Exception, match="neither a duration"):
        parse_since("yesterday", now=now)


def test_tables_align_their_columns_and_say_when_empty() -> None:
    out = io.StringIO()
    table(
        [{"id": "a", "lag": 3, "ok": True}, {"id": "bbbb", "lag": None}], ["id", "lag", "ok"], out
    )
    assert out.getvalue().splitlines() == ["ID    LAG  OK", "a     3    yes", "bbbb  -    -"]
    empty = io.StringIO()
    table([], ["id"], empty)
    assert empty.getvalue() == "(none)\n"


def test_a_replay_id_is_the_same_for_every_replay_of_an_execution() -> None:
    assert replay_execution_id("exe_1") == replay_execution_id("exe_1")
    assert replay_execution_id("exe_1") != replay_execution_id("exe_2")
    assert replay_execution_id(replay_execution_id("exe_1")) != replay_execution_id("exe_1")


def record(topic: str, value: bytes, offset: int = 0) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", value, None, 0, 0, ())


def test_event_dead_letters_go_back_to_inbound_with_their_headers_under_their_event_id() -> None:
    topics = Topics("p.")
    letter = EventDeadLetter(
        received=json.dumps({"type": "contract.created", "id": "evt-1", "data": {}}),
        source="native",
        tenant="acme",
        error={"code": "x"},
    )
    replay = event_replay(
        record(topics.events_deadletter, letter.model_dump_json().encode(), 7), topics
    )
    assert replay is not None
    assert (replay.id, replay.topic, replay.code) == ("evt-1", "p.events.inbound", "x")
    assert dict(replay.headers) == {
        "source": b"native",
        "tenant": b"acme",
        "replayed-from": b"p.events.deadletter:0:7",
    }
    anonymous = letter.model_copy(update={"received": '{"type": "contract.created", "data": {}}'})
    first = event_replay(record("d", anonymous.model_dump_json().encode()), topics)
    second = event_replay(record("d", anonymous.model_dump_json().encode(), 1), topics)
    assert first is not None
    assert second is not None
    assert first.id == second.id
    assert first.id.startswith("sha256:")


def test_records_that_are_no_dead_letter_are_not_replayed() -> None:
    assert event_replay(record("d", b"not json"), Topics()) is None
    assert execution_replay(record("d", b"{}"), Topics()) is None
