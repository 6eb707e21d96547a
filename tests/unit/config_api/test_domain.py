"""Config API domain: definition errors by JSON path, cursors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.config_api.domain import Cursor, InvalidInput, parse_definition


def test_definition_errors_name_json_paths() -> None:
    with pytest.raises(InvalidInput) as invalid:
        parse_definition(
            {"name": "", "trigger": "customer.created", "actions": [{"type": "slackish"}]}
        )
    paths = {d["path"] for d in invalid.value.details}
    assert "$.name" in paths
    assert any(path.startswith("$.actions[0]") for path in paths)


def test_cursors_round_trip_and_reject_garbage() -> None:
    cursor = Cursor(datetime(2026, 11, 21, 10, 0, 0, 123456, tzinfo=UTC), "wf_abc")
    assert Cursor.decode(cursor.encode()) == cursor
    with pytest.raises(InvalidInput):
        Cursor.decode("!!!")
