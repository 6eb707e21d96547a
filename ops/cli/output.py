"""What ``wf`` prints: aligned tables for people, JSON for scripts, errors on stderr.

A table is a few lines of formatting over rows of cells; a table library would add a
dependency for no behaviour we need.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO


class Failure(Exception):
    """A command that could not do what was asked; ``code`` is the exit status."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


OK = 0
FAILED = 1
"""The server refused, or some of the work failed (the output says which)."""
USAGE = 2
"""Bad arguments or an unreadable input file."""
NOT_FOUND = 3
UNAUTHORIZED = 4
"""The API key is missing, unknown or may not do this."""
UNAVAILABLE = 5
"""The config API or Kafka could not be reached, or answered with a server error."""


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> None:
    """``rows`` as left-aligned columns under upper-case headers; ``(none)`` when empty."""
    if not rows:
        print("(none)", file=out)
        return
    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [
        max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)
    ]
    header = [column.upper() for column in columns]
    for line in [header, *cells]:
        print(
            "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip(),
            file=out,
        )


def emit(
    data: Any,
    *,
    as_json: bool,
    rows: Sequence[Mapping[str, Any]] | None = None,
    columns: Sequence[str] = (),
    out: TextIO = sys.stdout,
) -> None:
    """``data`` as JSON, or ``rows`` (default: ``data``) as a table of ``columns``."""
    if as_json:
        json.dump(data, out, indent=2, default=str)
        print(file=out)
    else:
        table(rows if rows is not None else data, columns, out)
