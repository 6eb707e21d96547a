"""Config API domain: definition errors by JSON path, cursors, patches, preconditions, inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.config_api.domain import (
    Cursor,
    InvalidInput,
    PositionCursor,
    VersionConflict,
    check_json,
    copy_name,
    duplicate_definition,
    merge_patch,
    parse_definition,
    parse_if_match,
    parse_limit,
    parse_patch,
    parse_secret,
    parse_template,
    stored_definition,
)

WORKFLOW = {
    "name": "Hook",
    "trigger": "customer.created",
    "actions": [{"type": "webhook", "url": "https://hooks.example.com/x"}],
    "status": "active",
}


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


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor(datetime(2026, 1, 1), "naive"),  # naive: the point of the case
        Cursor(datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=9))), "underflows in UTC"),
        Cursor(datetime(2026, 1, 1, tzinfo=UTC), "nul\x00"),
    ],
)
def test_cursors_the_database_could_not_take_are_invalid(cursor: Cursor) -> None:
    with pytest.raises(InvalidInput):
        Cursor.decode(cursor.encode())


def test_position_cursors_are_bounded() -> None:
    assert PositionCursor.decode(PositionCursor(7).encode(), maximum=10).position == 7
    for position in (0, 11, 10**30):
        with pytest.raises(InvalidInput):
            PositionCursor.decode(PositionCursor(position).encode(), maximum=10)
    with pytest.raises(InvalidInput):
        PositionCursor.decode(Cursor(datetime(2026, 1, 1, tzinfo=UTC), "x").encode(), maximum=10)


def test_active_in_a_patch_replaces_the_current_status() -> None:
    current = stored_definition(parse_definition(WORKFLOW))
    assert parse_definition(merge_patch(current, {"active": False})).status == "paused"
    paused = stored_definition(parse_definition(merge_patch(current, {"active": False})))
    assert parse_definition(merge_patch(paused, {"status": "active"})).active
    assert parse_definition(merge_patch(current, {"status": "archived"})).status == "archived"
    with pytest.raises(InvalidInput):
        parse_definition(merge_patch(current, {"active": True, "status": "paused"}))


def test_a_patch_replaces_top_level_keys_only() -> None:
    current = stored_definition(parse_definition(WORKFLOW))
    merged = merge_patch(current, {"name": "New"})
    assert merged == {**current, "name": "New"}
    assert current["name"] == "Hook", "the current definition is not modified"


def test_patch_bodies_separate_version_and_server_fields() -> None:
    patch = parse_patch({"name": "x", "version": 3, "id": "wf_1", "createdAt": "then"})
    assert patch.fields == {"name": "x"}
    assert patch.precondition is not None
    patch.precondition.check(3)
    with pytest.raises(VersionConflict) as conflict:
        patch.precondition.check(4)
    assert conflict.value.details == [{"path": "$.version", "message": "the current version is 4"}]
    for version in (0, True, "3", 2.5):
        with pytest.raises(InvalidInput):
            parse_patch({"version": version})
    with pytest.raises(InvalidInput):
        parse_patch([1])


@pytest.mark.parametrize(
    ("header", "versions"),
    [('"3"', {3}), ('W/"3"', {3}), ("3", {3}), ('"3", "4"', {3, 4}), ("*", None), (None, None)],
)
def test_if_match_headers(header: str | None, versions: set[int] | None) -> None:
    precondition = parse_if_match(header)
    assert (precondition.versions if precondition else None) == versions


@pytest.mark.parametrize("header", ['"abc"', '"-1"', "", '"' + "9" * 11 + '"'])
def test_unusable_if_match_headers(header: str) -> None:
    with pytest.raises(InvalidInput) as invalid:
        parse_if_match(header)
    assert invalid.value.details[0]["path"] == "header.If-Match"


def test_a_duplicate_is_a_renamed_draft() -> None:
    copy = duplicate_definition(parse_definition(WORKFLOW))
    assert (copy.name, copy.status) == ("Hook (copy)", "draft")
    assert copy.actions == parse_definition(WORKFLOW).actions
    assert copy_name("x" * 200) == "x" * 193 + " (copy)"


def test_json_that_postgres_cannot_store_is_named_by_path() -> None:
    check_json({"a": [1, "fine", {"b": 2.5}], "c": None})
    with pytest.raises(InvalidInput) as invalid:
        check_json({"a": ["ok", "nul\x00"], "b": float("nan"), "c\x00": 1, "d": "\ud800"})
    assert {d["path"] for d in invalid.value.details} == {"$.a[1]", "$.b", "$", "$.d"}
    deep: object = "\x00"
    for _ in range(10_000):
        deep = [deep]
    with pytest.raises(InvalidInput):
        check_json(deep)


def test_limits() -> None:
    assert parse_limit(None, maximum=200) == 50
    assert parse_limit(None, maximum=20) == 20
    assert parse_limit("200", maximum=200) == 200
    for raw in ("0", "201", "x", "", "9" * 5000):
        with pytest.raises(InvalidInput):
            parse_limit(raw, maximum=200)


def test_templates_and_secrets() -> None:
    template = parse_template({"name": "welcome", "subject": "Hi {{customerName}}", "body": "b"})
    assert template.name == "welcome"
    with pytest.raises(InvalidInput) as invalid:
        parse_template({"name": "welcome", "subject": "a\nBcc: x@example.com", "body": "b"})
    assert [d["path"] for d in invalid.value.details] == ["$.subject"]
    assert parse_secret({"secret": "x" * 16}).secret == "x" * 16
    for secret in ("short", "has a space in it ok", "é" * 20, 12345678901234567):
        with pytest.raises(InvalidInput):
            parse_secret({"secret": secret})
