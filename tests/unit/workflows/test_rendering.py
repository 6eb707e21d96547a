"""render_action: typed mapping values, per-channel escaping, the same for dry runs and runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import TypeAdapter

from shared.workflows import Action, render, render_action
from shared.workflows.records import RECORD_FIELDS, record_field_refusals
from shared.workflows.rendering import escape_html, escape_slack
from shared.workflows.templates import single_variable

NOW = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
DATA: dict[str, Any] = {
    "customerName": "Globex <Labs> & Co",
    "value": 150000,
    "ratio": 0.5,
    "won": True,
    "tags": ["a", "b"],
    "address": {"city": "Lyon"},
}
ACTION: TypeAdapter[Action] = TypeAdapter(Action)


def rendered(action: dict[str, Any], data: dict[str, Any] = DATA) -> dict[str, Any]:
    return render_action(ACTION.validate_python(action), data, NOW).fields


def test_a_mapping_value_that_is_one_placeholder_keeps_its_type() -> None:
    fields = rendered(
        {
            "type": "salesforce_create",
            "object": "Opportunity",
            "mapping": {
                "Amount": "{{value}}",
                "Probability": "{{ ratio }}",
                "IsWon": "{{won}}",
                "Name": "{{customerName}} - {{value}}",
                "Missing": "{{nothing}}",
                "Today": "{{today}}",
                "Literal": 3,
            },
        }
    )
    assert fields["mapping"] == {
        "Amount": 150000,
        "Probability": 0.5,
        "IsWon": True,
        "Name": "Globex <Labs> & Co - 150000",
        "Missing": None,
        "Today": "2026-11-21",
        "Literal": 3,
    }


def test_a_call_api_body_keeps_types_too_but_an_email_body_is_text() -> None:
    body = rendered(
        {
            "type": "call_api",
            "url": "https://api.example.com/x",
            "body": {"v": "{{value}}", "t": ["{{tags}}"], "a": "{{address}}"},
        }
    )["body"]
    assert body == {"v": 150000, "t": [["a", "b"]], "a": {"city": "Lyon"}}
    email = rendered({"type": "email", "subject": "{{value}}", "body": "{{value}}"})
    assert (email["subject"], email["body"]) == ("150000", "150000")


def test_slack_text_escapes_what_the_data_puts_in_and_keeps_the_authors_markup() -> None:
    fields = rendered(
        {"type": "slack", "channel": "#wins", "message": "<!here> {{customerName}} *won*"}
    )
    assert fields["message"] == "<!here> Globex &lt;Labs&gt; &amp; Co *won*"
    # Other channels are not escaped by render_action (Teams; e-mail HTML escapes its own).
    assert (
        rendered({"type": "teams", "message": "{{customerName}}"})["message"]
        == "Globex <Labs> & Co"
    )


def test_escapes() -> None:
    assert escape_slack("a & <b>") == "a &amp; &lt;b&gt;"
    assert escape_html('"<x>"') == "&quot;&lt;x&gt;&quot;"
    assert render("<b>{{customerName}}</b>", DATA, NOW, escape=escape_html).text == (
        "<b>Globex &lt;Labs&gt; &amp; Co</b>"
    )


@pytest.mark.parametrize(
    ("template", "path"),
    [
        ("{{value}}", "value"),
        ("{{ a.b.0 }}", "a.b.0"),
        ("x{{value}}", None),
        ("{{today}}", None),
        ("{{#if a > 1}}", None),
        ("value", None),
    ],
)
def test_single_variable(template: str, path: str | None) -> None:
    assert single_variable(template) == path


def test_record_fields_are_refused_by_name_and_unknown_types_outright() -> None:
    update = ACTION.validate_python(
        {"type": "update_record", "recordType": "deal", "mapping": {"stage": "x", "ownerId": "y"}}
    )
    [refusal] = record_field_refusals(update)
    assert refusal.path == "mapping.ownerId"
    assert "allowed: currency, notes, probability, stage, status, title, value" in refusal.message
    assert RECORD_FIELDS["deal"] == {
        "title",
        "stage",
        "status",
        "value",
        "currency",
        "probability",
        "notes",
    }
    create = ACTION.validate_python(
        {"type": "create_record", "recordType": "planet", "mapping": {"name": "x"}}
    )
    assert [r.path for r in record_field_refusals(create)] == ["recordType"]
    assert record_field_refusals(ACTION.validate_python({"type": "tag", "tags": ["x"]})) == []
