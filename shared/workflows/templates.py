"""Templates and date math: one sandboxed renderer for every text an action sends.

The language, all of it (seed 000, "Variables & Templates", "Date Math", "Conditional Content"):

- ``{{customerName}}``, ``{{customer.address.city}}``, ``{{items.0.sku}}`` — a dotted path into
  the event's data; each segment is a key or a list index, never an attribute, so
  ``{{__class__}}`` is a key like any other (and missing). A missing or null value renders as
  nothing and is reported in ``Rendered.missing``.
- ``{{today}}``, ``{{tomorrow}}``, ``{{now}}``, ``{{end_of_month}}``, ``{{end_of_quarter}}``,
  ``{{+7 days}}``, ``{{-1 day}}``, ``{{+2 weeks}}`` — date math, in the workflow's time zone.
  These names are reserved: they win over data fields of the same name.
- ``{{#if value > 100000}}…{{else}}…{{/if}}``, nestable up to ``MAX_TEMPLATE_IF_DEPTH`` — the
  condition is ``field operator value`` with the operators of conditions, by name
  (``{{#if vendor in ["aws", "azure"]}}``, ``{{#if notes is_empty}}``) or as ``>``, ``<``,
  ``==``, ``!=``; the value is a JSON literal (``100000``, ``"aws"``, ``true``, ``[1, 2]``) and
  is checked exactly as a rule's value is.

Nothing else is code: there are no expressions, calls, filters or helpers, and nothing is
evaluated by Python. A template is checked when its workflow is saved (``validate_template``
raises ``TemplateError`` saying what and where); ``render`` accepts any string and never raises
on data — a tag that is not valid renders as the literal text it is.

Output is not escaped unless the caller asks: ``render(..., escape=...)`` escapes what the data
puts in (never the template's own text), so a Slack message escapes ``&``, ``<`` and ``>`` in
a customer's name while keeping the author's own ``<https://…|links>``, and an HTML e-mail body
escapes data as HTML (``shared.workflows.rendering`` holds the escapes per channel).

A template that is exactly one variable (``"{{value}}"``) can also be rendered to the value
itself instead of its text (``single_variable``): a CRM mapping sends ``150000``, the number.

Date math uses the standard library (``zoneinfo``, ``calendar``) rather than python-dateutil:
days, weeks and month or quarter ends are all it needs, and dateutil is not a declared
dependency of this project (only a transitive one) and ships no type information.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from shared.workflows.conditions import (
    FIELD_PATH_PATTERN,
    MISSING,
    Rule,
    field_value,
    is_field_path,
    parse_instant,
    rule_holds,
)
from shared.workflows.limits import (
    MAX_DATE_OFFSET_DAYS,
    MAX_RENDERED_LENGTH,
    MAX_TEMPLATE_IF_DEPTH,
    MAX_TEMPLATE_LENGTH,
)

DATE_KEYWORDS: Final = frozenset({"now", "today", "tomorrow", "end_of_month", "end_of_quarter"})
OPERATOR_SYMBOLS: Final[Mapping[str, str]] = {
    ">": "greater_than",
    "<": "less_than",
    "==": "equals",
    "!=": "not_equals",
}

_TAG = re.compile(r"\{\{([^{}]*)\}\}")
_DATE_OFFSET = re.compile(r"([+-]?)(\d{1,6})\s*(days?|weeks?)")
_SYMBOL_CONDITION = re.compile(rf"({FIELD_PATH_PATTERN})\s*(==|!=|>=|<=|>|<)\s*(.*)", re.DOTALL)
_NAMED_CONDITION = re.compile(rf"({FIELD_PATH_PATTERN})\s+([A-Za-z_]+)(?:\s+(.*))?", re.DOTALL)
_VALIDATION_NOW: Final = datetime(2000, 1, 1, tzinfo=UTC)
_DATE_FORMS = (
    "today, tomorrow, +N days, -N days, +N weeks, end_of_month, end_of_quarter, "
    'an ISO date such as "2026-12-31", or a {{variable}}'
)


def _cut(text: str, limit: int = 60) -> str:
    """``text`` cut short for an error message: messages echo user input."""
    return text if len(text) <= limit else text[:limit] + "…"


def _shown(text: str) -> str:
    return repr(_cut(text))


class TemplateError(ValueError):
    """A template that cannot be saved: what is wrong, and where (line and column, from 1)."""

    def __init__(self, message: str, template: str = "", offset: int | None = None) -> None:
        if offset is not None:
            line = template.count("\n", 0, offset) + 1
            column = offset - (template.rfind("\n", 0, offset) + 1) + 1
            message = f"line {line}, column {column}: {message}"
        super().__init__(message)
        self.offset = offset


class DateExpressionError(ValueError):
    """A date expression that is not one, or reaches further than ``MAX_DATE_OFFSET_DAYS``."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """The text a template produced, and every data path it looked up and did not find (in the
    order first met, once each). ``truncated`` when the text was cut at
    ``MAX_RENDERED_LENGTH`` characters."""

    text: str
    missing: list[str] = field(default_factory=list)
    truncated: bool = False


# --- date math -----------------------------------------------------------------------------------


def _offset_days(expression: str) -> int | None:
    match = _DATE_OFFSET.fullmatch(expression)
    if match is None:
        return None
    sign, count, unit = match.groups()
    days = int(count) * (7 if unit.startswith("week") else 1)
    return -days if sign == "-" else days


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise DateExpressionError(f"unknown IANA time zone {tz!r}") from None


def is_date_expression(text: str) -> bool:
    """Whether ``text`` is date math: a date keyword or ``±N day(s)`` / ``±N week(s)``."""
    return text in DATE_KEYWORDS or _DATE_OFFSET.fullmatch(text) is not None


def resolve_date(expression: str, now: datetime, tz: str = "UTC") -> date | datetime:
    """The date ``expression`` names, seen at ``now`` from time zone ``tz``.

    ``now`` is the instant itself (a datetime in ``tz``); every other expression is a calendar
    date in ``tz``: ``today``, ``tomorrow``, ``+N days``/``-N days`` (``+N weeks``), and the last
    day of the current month or quarter (``end_of_month``, ``end_of_quarter``). A naive ``now``
    is taken as UTC. Raises ``DateExpressionError`` for anything else, for an offset beyond
    ``MAX_DATE_OFFSET_DAYS``, and for an unknown time zone.
    """
    local = (now if now.tzinfo is not None else now.replace(tzinfo=UTC)).astimezone(_zone(tz))
    today = local.date()
    if expression == "now":
        return local
    if expression == "today":
        return today
    if expression == "tomorrow":
        return today + timedelta(days=1)
    if expression in ("end_of_month", "end_of_quarter"):
        month = today.month if expression == "end_of_month" else (today.month + 2) // 3 * 3
        return date(today.year, month, calendar.monthrange(today.year, month)[1])
    days = _offset_days(expression)
    if days is None:
        raise DateExpressionError(f"{_shown(expression)} is not a date: use {_DATE_FORMS}")
    if abs(days) > MAX_DATE_OFFSET_DAYS:
        raise DateExpressionError(f"{expression!r} reaches beyond {MAX_DATE_OFFSET_DAYS} days")
    try:
        return today + timedelta(days=days)
    except OverflowError:
        raise DateExpressionError(f"{expression!r} falls outside the calendar") from None


def validate_date_field(text: str) -> str:
    """Check a whole-field date such as a task's ``dueDate``; returns ``text`` unchanged.

    Accepts date math (``+7 days``), an ISO date or datetime, or a template that renders to one
    (``{{contractEndDate}}``). Raises ``ValueError`` saying which forms are accepted.
    """
    stripped = text.strip()
    if is_date_expression(stripped):
        resolve_date(stripped, _VALIDATION_NOW)
    elif parse_instant(stripped) is None:
        if "{{" not in stripped:
            raise ValueError(f"{_shown(text)} is not a date: use {_DATE_FORMS}")
        validate_template(text)
    return text


def render_date(
    text: str, data: Mapping[str, Any], now: datetime, tz: str = "UTC"
) -> date | datetime | None:
    """The date a whole-field date value (``"+7 days"``, ``"{{contractEndDate}}"``) stands for
    in ``data`` at ``now``; None when it does not come out as a date. Never raises on data."""
    candidate = text.strip()
    if "{{" in candidate:
        candidate = render(candidate, data, now, tz).text.strip()
    if is_date_expression(candidate):
        try:
            return resolve_date(candidate, now, tz)
        except DateExpressionError:
            return None
    instant = parse_instant(candidate)
    if instant is None:
        return None
    return instant.date() if len(candidate) == len("2026-12-31") else instant


# --- parsing --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Text:
    text: str


@dataclass(frozen=True, slots=True)
class _Variable:
    path: str


@dataclass(frozen=True, slots=True)
class _DateValue:
    expression: str


@dataclass(slots=True)
class _If:
    condition: Rule
    then: list[_Node] = field(default_factory=list)
    otherwise: list[_Node] | None = None


_Node = _Text | _Variable | _DateValue | _If


@dataclass(slots=True)
class _Open:
    """An ``{{#if}}`` not closed yet; ``block`` is None when it is kept as literal text."""

    block: _If | None
    tag: str
    offset: int
    else_tag: str = ""


class _Parser:
    """Turns a template into nodes. Strict: the first problem raises ``TemplateError``.
    Lenient (for rendering): a tag that is not valid, and any block it would open or close,
    stays literal text."""

    def __init__(self, template: str, *, strict: bool) -> None:
        self.template = template
        self.strict = strict
        self.root: list[_Node] = []
        self.open: list[_Open] = []

    def parse(self) -> list[_Node]:
        if self.strict and len(self.template) > MAX_TEMPLATE_LENGTH:
            raise TemplateError(
                f"a template is at most {MAX_TEMPLATE_LENGTH} characters, "
                f"this one has {len(self.template)}"
            )
        position = 0
        for match in _TAG.finditer(self.template):
            self._literal(self.template[position : match.start()], position)
            self._tag(match.group(1).strip(), match.group(0), match.start())
            position = match.end()
        self._literal(self.template[position:], position)
        if self.open and self.strict:
            unclosed = next(frame for frame in self.open if frame.block is not None)
            raise TemplateError(
                "{{#if}} is never closed by {{/if}}", self.template, unclosed.offset
            )
        while self.open:
            self._unwind(self.open.pop())
        return self.root

    def _out(self) -> list[_Node]:
        for frame in reversed(self.open):
            if frame.block is not None:
                block = frame.block
                return block.then if block.otherwise is None else block.otherwise
        return self.root

    def _fail(self, message: str, offset: int, raw: str) -> None:
        if self.strict:
            raise TemplateError(message, self.template, offset)
        self._out().append(_Text(raw))

    def _literal(self, text: str, offset: int) -> None:
        if not text:
            return
        if self.strict and "{{" in text:
            raise TemplateError(
                "'{{' opens no tag: braces cannot nest, and every '{{' needs its '}}'",
                self.template,
                offset + text.index("{{"),
            )
        self._out().append(_Text(text))

    def _tag(self, content: str, raw: str, offset: int) -> None:  # noqa: PLR0911 - one branch per kind of tag
        if content.startswith("#"):
            words = content[1:].split(maxsplit=1)
            if not words or words[0] != "if":
                self._fail(f"unknown block {_shown(raw)}: only {{{{#if}}}} exists", offset, raw)
                return
            self._open_if(words[1] if len(words) > 1 else "", raw, offset)
            return
        if content == "else":
            self._else(raw, offset)
            return
        if content.startswith("/"):
            self._close(content[1:].strip(), raw, offset)
            return
        if is_date_expression(content):
            try:
                resolve_date(content, _VALIDATION_NOW)
            except DateExpressionError as error:
                self._fail(str(error), offset, raw)
                return
            self._out().append(_DateValue(content))
            return
        if is_field_path(content):
            self._out().append(_Variable(content))
            return
        self._fail(
            f"{_shown(raw)} is not a variable: write {{{{name}}}} or {{{{dotted.path}}}}",
            offset,
            raw,
        )

    def _open_if(self, condition: str, raw: str, offset: int) -> None:
        depth = sum(frame.block is not None for frame in self.open)
        try:
            if depth >= MAX_TEMPLATE_IF_DEPTH:
                raise TemplateError(f"{{{{#if}}}} blocks nest at most {MAX_TEMPLATE_IF_DEPTH} deep")
            rule = parse_condition(condition)
        except TemplateError as error:
            if self.strict:
                raise TemplateError(str(error), self.template, offset) from None
            self._out().append(_Text(raw))
            self.open.append(_Open(None, raw, offset))
            return
        block = _If(rule)
        self._out().append(block)
        self.open.append(_Open(block, raw, offset))

    def _else(self, raw: str, offset: int) -> None:
        frame = self.open[-1] if self.open else None
        if frame is None or frame.block is None:
            self._fail("{{else}} outside {{#if}}", offset, raw)
            return
        if frame.block.otherwise is not None:
            self._fail("a second {{else}} in one {{#if}}", offset, raw)
            return
        frame.block.otherwise = []
        frame.else_tag = raw

    def _close(self, keyword: str, raw: str, offset: int) -> None:
        if keyword != "if":
            self._fail(f"unknown block end {_shown(raw)}: only {{{{/if}}}} exists", offset, raw)
            return
        if not self.open:
            self._fail("{{/if}} without {{#if}}", offset, raw)
            return
        frame = self.open.pop()
        if frame.block is None:
            self._out().append(_Text(raw))

    def _unwind(self, frame: _Open) -> None:
        """Lenient end of text inside an open ``{{#if}}``: its tags become literal text."""
        if frame.block is None:
            return
        block = frame.block
        container = self._out()
        container.pop()  # the block: nothing follows an open block in its container
        container.append(_Text(frame.tag))
        container.extend(block.then)
        if block.otherwise is not None:
            container.append(_Text(frame.else_tag))
            container.extend(block.otherwise)


def _literal_value(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    return json.loads(text, parse_constant=refuse)


def parse_condition(text: str) -> Rule:
    """The rule an ``{{#if …}}`` condition states: ``field operator value``.

    Raises ``TemplateError`` when it is not one, or when the value does not suit the operator.
    """
    example = 'e.g. {{#if value > 100000}} or {{#if vendor equals "aws"}}'
    if not text:
        raise TemplateError(f"{{{{#if}}}} needs a condition: 'field operator value', {example}")
    symbol = _SYMBOL_CONDITION.fullmatch(text)
    named = None if symbol else _NAMED_CONDITION.fullmatch(text)
    if symbol is not None:
        path, operator, raw = symbol.group(1), symbol.group(2), symbol.group(3).strip()
        if operator in (">=", "<="):
            raise TemplateError(f"{operator!r} does not exist: use > or < ({example})")
        operator = OPERATOR_SYMBOLS[operator]
    elif named is not None:
        path, operator, raw = named.group(1), named.group(2), (named.group(3) or "").strip()
    else:
        raise TemplateError(f"{{{{#if {_cut(text)}}}}} needs 'field operator value', {example}")
    value: Any = None
    if raw:
        try:
            value = _literal_value(raw)
        except (ValueError, RecursionError):
            raise TemplateError(
                f'{_shown(raw)} is not a value: write a number, a "quoted string", true, false '
                "or a [list]"
            ) from None
    try:
        return Rule.model_validate({"field": path, "operator": operator, "value": value})
    except ValidationError as error:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in error.errors())
        raise TemplateError(f"{{{{#if {_cut(text)}}}}}: {problems}") from None


def validate_template(template: str) -> str:
    """Check ``template`` as it will be saved; returns it unchanged.

    Raises ``TemplateError`` naming the first problem and where it is: a template longer than
    ``MAX_TEMPLATE_LENGTH``, a tag that is not a variable, date or block, an ``{{#if}}`` whose
    condition is not ``field operator value`` or whose value does not suit its operator,
    unbalanced or too deeply nested blocks, and braces that do not form a tag.
    """
    _Parser(template, strict=True).parse()
    return template


# --- rendering ------------------------------------------------------------------------------------


def _text_of(value: Any) -> str:  # noqa: PLR0911 - one return per kind of JSON value
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    if isinstance(value, date):
        return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)
    if isinstance(value, Mapping | list | tuple):
        try:
            return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        except (ValueError, TypeError, RecursionError):
            return ""  # circular or absurdly deep data: nothing sensible to show
    return str(value)


Escape = Callable[[str], str]
"""Turns text taken from data into text safe in a channel's format."""


class _Renderer:
    def __init__(
        self, data: Mapping[str, Any], now: datetime, tz: str, escape: Escape | None
    ) -> None:
        self.data = data
        self.now = now
        self.tz = tz
        self.escape = escape
        self.parts: list[str] = []
        self.length = 0
        self.truncated = False
        self.missing: dict[str, None] = {}

    def emit(self, text: str) -> None:
        room = MAX_RENDERED_LENGTH - self.length
        if len(text) > room:
            text = text[:room]
            self.truncated = True
        self.parts.append(text)
        self.length += len(text)

    def lookup(self, path: str) -> Any:
        value = field_value(self.data, path)
        if value is MISSING:
            self.missing[path] = None
        return value

    def nodes(self, nodes: list[_Node]) -> None:
        for node in nodes:
            if self.truncated:
                return
            if isinstance(node, _Text):
                self.emit(node.text)
            elif isinstance(node, _Variable):
                value = self.lookup(node.path)
                shown = "" if value is MISSING else _text_of(value)
                self.emit(self.escape(shown) if self.escape is not None else shown)
            elif isinstance(node, _DateValue):
                self.emit(_text_of(resolve_date(node.expression, self.now, self.tz)))
            else:
                rule = node.condition
                holds = rule_holds(rule.operator, self.lookup(rule.field), rule.value)
                self.nodes(node.then if holds else node.otherwise or [])


def render(
    template: str,
    data: Mapping[str, Any],
    now: datetime,
    tz: str = "UTC",
    *,
    escape: Escape | None = None,
) -> Rendered:
    """``template`` filled in from ``data`` (an event's data) at instant ``now`` in zone ``tz``.

    Never raises on data: missing values render as nothing and are listed in ``missing``, and a
    template that ``validate_template`` would refuse renders its invalid parts literally. With
    ``escape``, every value taken from ``data`` is escaped (the template's own text is not).
    Raises ``DateExpressionError`` only for an unknown ``tz``.
    """
    _zone(tz)
    renderer = _Renderer(data, now, tz, escape)
    renderer.nodes(_Parser(template, strict=False).parse())
    return Rendered("".join(renderer.parts), list(renderer.missing), renderer.truncated)


def single_variable(template: str) -> str | None:
    """The data path of a template that is exactly one variable tag (``"{{value}}"``, spaces
    inside the braces allowed), or None: for any other text, a date keyword included."""
    match = _TAG.fullmatch(template)
    if match is None:
        return None
    content = match.group(1).strip()
    if is_date_expression(content) or not is_field_path(content):
        return None
    return content
