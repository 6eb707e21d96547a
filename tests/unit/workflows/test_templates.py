"""The template renderer: variables, {{#if}} blocks, date math, the sandbox, save-time checks."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from shared.workflows import (
    DateExpressionError,
    TemplateError,
    render,
    render_date,
    resolve_date,
    validate_template,
)
from shared.workflows.conditions import known_field_types
from shared.workflows.limits import (
    MAX_RENDERED_LENGTH,
    MAX_TEMPLATE_IF_DEPTH,
    MAX_TEMPLATE_LENGTH,
)

NOW = datetime(2026, 11, 21, 10, 30, 15, 123456, tzinfo=UTC)
DATA: dict[str, Any] = {
    "customerName": "Globex",
    "value": 150000,
    "ratio": 0.25,
    "rounded": 150000.0,
    "active": True,
    "notes": None,
    "empty": "",
    "tags": ["vip", "new"],
    "customer": {"address": {"city": "Lyon"}, "contacts": [{"email": "a@x.com"}]},
}


def text(template: str, data: dict[str, Any] = DATA, now: datetime = NOW) -> str:
    return render(template, data, now).text


# --- variables ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello {{customerName}}", "Hello Globex"),
        ("{{ customerName }}", "Globex"),
        ("${{value}}", "$150000"),
        ("{{ratio}}", "0.25"),
        ("{{rounded}}", "150000"),
        ("{{active}}", "true"),
        ("{{tags}}", '["vip","new"]'),
        ("{{tags.0}}", "vip"),
        ("{{customer.address.city}}", "Lyon"),
        ("{{customer.contacts.0.email}}", "a@x.com"),
        ("{{customer.address}}", '{"city":"Lyon"}'),
        ("[{{notes}}][{{empty}}]", "[][]"),
        ("no tags at all", "no tags at all"),
        ("", ""),
        ("{single} braces } stay {", "{single} braces } stay {"),
        ("{{{customerName}}}", "{Globex}"),
        ("🎉 {{customerName}} 🎉", "🎉 Globex 🎉"),
    ],
)
def test_variables(template: str, expected: str) -> None:
    validate_template(template)
    assert text(template) == expected


def test_missing_variables_render_empty_and_are_reported_once_in_order() -> None:
    rendered = render("{{a}} {{customerName}} {{b.c}} {{a}} {{notes}}", DATA, NOW)
    assert rendered.text == " Globex   "
    assert rendered.missing == ["a", "b.c", "notes"]


def test_a_path_through_a_scalar_or_past_a_list_is_missing() -> None:
    rendered = render("{{customerName.length}}{{tags.5}}{{tags.first}}", DATA, NOW)
    assert (rendered.text, rendered.missing) == (
        "",
        ["customerName.length", "tags.5", "tags.first"],
    )


# --- the sandbox ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "attempt",
    [
        "{{ __import__('os').system('id') }}",
        "{{ customerName | upper }}",
        "{{ value * 2 }}",
        "{{ config['SECRET'] }}",
        "{{ {{customerName}} }}",
        "{{#if 1}}yes{{/if}}",
        "{{#if __import__('os')}}yes{{/if}}",
        "{{#if value > 1 or True}}yes{{/if}}",
        "{{#if value > (1)}}yes{{/if}}",
        "{{#each tags}}{{this}}{{/each}}",
        "{{> partial}}",
        "{{! comment }}",
        "{{&customerName}}",
        "{{constructor.constructor('return process')()}}",
        "{{#if value > 1}}unclosed",
        "{{else}}",
        "{{/if}}",
    ],
)
def test_injection_attempts_are_refused_when_saved(attempt: str) -> None:
    with pytest.raises(TemplateError):
        validate_template(attempt)


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        ("{{ __import__('os') }}", "{{ __import__('os') }}"),
        ("{{ value * 2 }}", "{{ value * 2 }}"),
        ("{{#if 1}}yes{{/if}}", "{{#if 1}}yes{{/if}}"),
        ("{{ {{customerName}} }}", "{{ Globex }}"),
        ("{{#each tags}}x{{/each}}", "{{#each tags}}x{{/each}}"),
        ("{{#if value > 1}}unclosed {{customerName}}", "{{#if value > 1}}unclosed Globex"),
        (
            "{{#if value > 1}}a{{else}}b{{#if x == 1}}c",
            "{{#if value > 1}}a{{else}}b{{#if x == 1}}c",
        ),
        ("a{{else}}b{{/if}}c", "a{{else}}b{{/if}}c"),
    ],
)
def test_unsaved_injection_attempts_render_literally(attempt: str, expected: str) -> None:
    rendered = render(attempt, DATA, NOW)
    assert rendered.text == expected


@pytest.mark.parametrize("key", ["__class__", "__globals__", "__dict__", "__builtins__"])
def test_dunder_names_are_just_keys(key: str) -> None:
    validate_template(f"{{{{{key}}}}}")
    assert render(f"{{{{{key}}}}}", {}, NOW).missing == [key]
    assert text(f"{{{{{key}}}}}", {key: "plain data"}) == "plain data"


def test_attribute_chains_are_missing_keys() -> None:
    validate_template("{{customerName.__class__.__mro__}}")
    rendered = render("{{customerName.__class__.__mro__}}", DATA, NOW)
    assert (rendered.text, rendered.missing) == ("", ["customerName.__class__.__mro__"])


def test_objects_in_data_are_never_looked_into() -> None:
    class Secret:
        token = "s3cr3t"

    rendered = render("{{obj.token}}", {"obj": Secret()}, NOW)
    assert (rendered.text, rendered.missing) == ("", ["obj.token"])


def test_rendering_never_raises_on_any_arrangement_of_braces_and_blocks() -> None:
    pieces = ["{{", "}}", "{", "}", "#if ", "/if", "else", "value > 1", "x == 2", " ", "a", "#"]
    generator = random.Random(20261121)
    for _ in range(3000):
        template = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 30)))
        render(template, DATA, NOW)
        with contextlib.suppress(TemplateError):
            validate_template(template)


def test_absurd_input_is_refused_or_rendered_without_crashing() -> None:
    deep_literal = "{{#if a in " + "[" * 3000 + "]" * 3000 + "}}x{{/if}}"
    with pytest.raises(TemplateError, match="is not a value") as refused:
        validate_template(deep_literal)
    assert len(str(refused.value)) < 300
    circular: dict[str, Any] = {}
    circular["self"] = circular
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    assert text("[{{c}}][{{d}}]", {"c": circular, "d": deep}) == "[][]"


def test_a_template_refused_when_saved_says_what_and_where() -> None:
    with pytest.raises(TemplateError, match=r"line 2, column 7: .*never closed"):
        validate_template("Hello\nDeal: {{#if value > 1}}big")
    with pytest.raises(TemplateError, match=r"line 1, column 4: .*braces cannot nest"):
        validate_template("ab {{ {{x}} }}")
    with pytest.raises(TemplateError, match=r"a second \{\{else\}\}"):
        validate_template("{{#if a == 1}}x{{else}}y{{else}}z{{/if}}")
    with pytest.raises(TemplateError, match=r"'>=' does not exist"):
        validate_template("{{#if value >= 1}}x{{/if}}")
    with pytest.raises(TemplateError, match=r"'aws' is not a value"):
        validate_template("{{#if vendor == aws}}x{{/if}}")
    with pytest.raises(TemplateError, match=r"needs a number or an ISO date"):
        validate_template('{{#if value > "big"}}x{{/if}}')
    validate_template('{{#if value == "100000"}}x{{/if}}')
    with known_field_types(), pytest.raises(TemplateError, match=r"'value' is a number"):
        validate_template('{{#if value == "100000"}}x{{/if}}')
    with pytest.raises(TemplateError, match="at most 10000 characters"):
        validate_template("x" * (MAX_TEMPLATE_LENGTH + 1))


# --- {{#if}} ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("value > 100000", True),
        ("value>100000", True),
        ("value < 100000", False),
        ("value == 150000", True),
        ("value != 150000", False),
        ("value greater_than 100000", True),
        ('customerName equals "Globex"', True),
        ('customerName == "globex"', False),
        ('customerName contains "lob"', True),
        ('customerName not_contains "lob"', False),
        ('tags contains "vip"', True),
        ('customerName in ["Globex", "Initech"]', True),
        ('customerName not_in ["Globex"]', False),
        ("notes is_empty", True),
        ("empty is_empty", True),
        ("customerName is_not_empty", True),
        ("active == true", True),
        ('customer.address.city == "Lyon"', True),
        ("missing > 1", False),
        ("missing != 1", True),
        ('contractEndDate < "2027-01-01"', False),
    ],
)
def test_if_conditions_use_the_operators_of_conditions(condition: str, expected: bool) -> None:
    template = f"{{{{#if {condition}}}}}yes{{{{else}}}}no{{{{/if}}}}"
    validate_template(template)
    assert text(template) == ("yes" if expected else "no")


def test_if_without_else_renders_nothing_when_false() -> None:
    assert text("a{{#if value < 1}}b{{/if}}c") == "ac"


def test_if_blocks_nest() -> None:
    template = (
        "{{#if value > 100000}}big"
        '{{#if tags contains "vip"}} vip{{else}} regular{{/if}}'
        "{{else}}small{{#if value > 10}} but not tiny{{/if}}{{/if}}"
    )
    validate_template(template)
    assert text(template) == "big vip"
    assert text(template, {"value": 200000, "tags": []}) == "big regular"
    assert text(template, {"value": 50}) == "small but not tiny"


def test_if_blocks_nest_up_to_the_limit() -> None:
    def nested(levels: int) -> str:
        return "{{#if value > 1}}" * levels + "deep" + "{{/if}}" * levels

    validate_template(nested(MAX_TEMPLATE_IF_DEPTH))
    assert text(nested(MAX_TEMPLATE_IF_DEPTH)) == "deep"
    with pytest.raises(TemplateError, match=f"nest at most {MAX_TEMPLATE_IF_DEPTH} deep"):
        validate_template(nested(MAX_TEMPLATE_IF_DEPTH + 1))
    rendered = text(nested(2000))
    assert rendered.count("{{#if value > 1}}") == 2000 - MAX_TEMPLATE_IF_DEPTH


def test_the_variables_an_untaken_branch_names_are_not_reported() -> None:
    rendered = render("{{#if value > 1}}{{a}}{{else}}{{b}}{{/if}}{{#if c > 1}}{{/if}}", DATA, NOW)
    assert rendered.missing == ["a", "c"]


def test_rendering_is_bounded() -> None:
    data = {"big": "x" * 600_000}
    rendered = render("{{big}}{{big}}{{big}}", data, NOW)
    assert rendered.truncated
    assert len(rendered.text) == MAX_RENDERED_LENGTH
    assert not render("{{big}}", data, NOW).truncated


# --- date math ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("today", date(2026, 11, 21)),
        ("tomorrow", date(2026, 11, 22)),
        ("+1 day", date(2026, 11, 22)),
        ("+7 days", date(2026, 11, 28)),
        ("+30 days", date(2026, 12, 21)),
        ("-1 day", date(2026, 11, 20)),
        ("-30 days", date(2026, 10, 22)),
        ("+0 days", date(2026, 11, 21)),
        ("7 days", date(2026, 11, 28)),
        ("+2 weeks", date(2026, 12, 5)),
        ("-1 week", date(2026, 11, 14)),
        ("end_of_month", date(2026, 11, 30)),
        ("end_of_quarter", date(2026, 12, 31)),
    ],
)
def test_date_math(expression: str, expected: date) -> None:
    assert resolve_date(expression, NOW) == expected


@pytest.mark.parametrize(
    ("now", "end_of_month", "end_of_quarter"),
    [
        (datetime(2024, 2, 10, tzinfo=UTC), date(2024, 2, 29), date(2024, 3, 31)),
        (datetime(2026, 2, 10, tzinfo=UTC), date(2026, 2, 28), date(2026, 3, 31)),
        (datetime(2100, 2, 1, tzinfo=UTC), date(2100, 2, 28), date(2100, 3, 31)),
        (datetime(2000, 2, 1, tzinfo=UTC), date(2000, 2, 29), date(2000, 3, 31)),
        (datetime(2026, 1, 1, tzinfo=UTC), date(2026, 1, 31), date(2026, 3, 31)),
        (datetime(2026, 4, 1, tzinfo=UTC), date(2026, 4, 30), date(2026, 6, 30)),
        (datetime(2026, 6, 30, 23, 59, tzinfo=UTC), date(2026, 6, 30), date(2026, 6, 30)),
        (datetime(2026, 7, 15, tzinfo=UTC), date(2026, 7, 31), date(2026, 9, 30)),
        (datetime(2026, 9, 30, tzinfo=UTC), date(2026, 9, 30), date(2026, 9, 30)),
        (datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC), date(2026, 12, 31), date(2026, 12, 31)),
    ],
)
def test_month_and_quarter_ends(now: datetime, end_of_month: date, end_of_quarter: date) -> None:
    assert resolve_date("end_of_month", now) == end_of_month
    assert resolve_date("end_of_quarter", now) == end_of_quarter


def test_leap_days() -> None:
    leap_day = datetime(2024, 2, 29, 12, tzinfo=UTC)
    assert resolve_date("tomorrow", leap_day) == date(2024, 3, 1)
    assert resolve_date("+365 days", leap_day) == date(2025, 2, 28)
    assert resolve_date("-1 day", datetime(2024, 3, 1, tzinfo=UTC)) == date(2024, 2, 29)
    assert resolve_date("+1 day", datetime(2023, 2, 28, tzinfo=UTC)) == date(2023, 3, 1)


def test_dates_are_calendar_dates_in_the_workflows_time_zone() -> None:
    late_in_utc = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert resolve_date("today", late_in_utc) == date(2026, 12, 31)
    assert resolve_date("today", late_in_utc, "Europe/Paris") == date(2027, 1, 1)
    assert resolve_date("end_of_quarter", late_in_utc, "Europe/Paris") == date(2027, 3, 31)
    assert resolve_date("today", late_in_utc, "America/Los_Angeles") == date(2026, 12, 31)
    now = resolve_date("now", late_in_utc, "Asia/Tokyo")
    assert isinstance(now, datetime)
    assert now == late_in_utc
    assert now.utcoffset() == timedelta(hours=9)


def test_a_naive_now_is_utc_and_an_aware_one_is_converted() -> None:
    assert resolve_date("today", datetime(2026, 1, 1, 1, 0)) == date(2026, 1, 1)
    offset = timezone(timedelta(hours=-5))
    assert resolve_date("today", datetime(2026, 1, 1, 22, 0, tzinfo=offset)) == date(2026, 1, 2)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("next week", "is not a date"),
        ("+1 month", "is not a date"),
        ("Today", "is not a date"),
        ("+3661 days", "beyond 3660 days"),
        ("-523 weeks", "beyond 3660 days"),
    ],
)
def test_date_math_refuses_what_it_does_not_know(expression: str, message: str) -> None:
    with pytest.raises(DateExpressionError, match=message):
        resolve_date(expression, NOW)


def test_an_unknown_time_zone_is_refused() -> None:
    with pytest.raises(DateExpressionError, match="unknown IANA time zone"):
        resolve_date("today", NOW, "Mars/Olympus")
    with pytest.raises(DateExpressionError, match="unknown IANA time zone"):
        render("{{today}}", {}, NOW, "Mars/Olympus")


def test_date_variables_in_templates() -> None:
    template = (
        "{{today}}|{{tomorrow}}|{{now}}|{{+7 days}}|{{-1 day}}|{{end_of_month}}|{{end_of_quarter}}"
    )
    validate_template(template)
    assert text(template) == (
        "2026-11-21|2026-11-22|2026-11-21T10:30:15+00:00|2026-11-28|2026-11-20|2026-11-30|2026-12-31"
    )
    assert render("{{today}}", {}, NOW, "Pacific/Kiritimati").text == "2026-11-22"


def test_date_variables_win_over_data_fields_of_the_same_name() -> None:
    assert text("{{today}}", {"today": "data"}) == "2026-11-21"


def test_an_out_of_range_date_variable_is_refused_when_saved() -> None:
    with pytest.raises(TemplateError, match="beyond 3660 days"):
        validate_template("Due {{+9999 days}}")


@pytest.mark.parametrize(
    ("value", "data", "expected"),
    [
        ("+7 days", {}, date(2026, 11, 28)),
        ("today", {}, date(2026, 11, 21)),
        ("end_of_month", {}, date(2026, 11, 30)),
        ("2027-01-31", {}, date(2027, 1, 31)),
        ("2027-01-31T09:00:00Z", {}, datetime(2027, 1, 31, 9, tzinfo=UTC)),
        ("{{contractEndDate}}", {"contractEndDate": "2027-06-30"}, date(2027, 6, 30)),
        ("{{offset}}", {"offset": "+3 days"}, date(2026, 11, 24)),
        ("{{contractEndDate}}", {}, None),
        ("{{contractEndDate}}", {"contractEndDate": "soon"}, None),
        ("{{offset}}", {"offset": "+99999 days"}, None),
    ],
)
def test_whole_field_dates(
    value: str, data: dict[str, Any], expected: date | datetime | None
) -> None:
    assert render_date(value, data, NOW) == expected
