"""Render the fault suite's results as the README's table, or check the README against them.

    python -m tests.faults.table            # print the table
    python -m tests.faults.table --write    # rewrite the README's section
    python -m tests.faults.table --check    # exit 1 when the README says something else

The README's section lies between the ``BEGIN``/``END`` markers below.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.faults.ledger import COLUMNS, RESULTS, Row, load

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN = "<!-- fault-table:begin (python -m tests.faults.table --write) -->"
END = "<!-- fault-table:end -->"


def render(rows: list[Row]) -> str:
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    lines += [
        "| " + " | ".join(cell.replace("|", "\\|") for cell in row.cells()) + " |" for row in rows
    ]
    return "\n".join(lines)


def section(text: str) -> str:
    try:
        start = text.index(BEGIN) + len(BEGIN)
        end = text.index(END, start)
    except ValueError:
        raise SystemExit(f"README.md has no fault table between {BEGIN!r} and {END!r}") from None
    return text[start:end].strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true")
    mode.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    rows = load()
    if not rows:
        print(
            f"{RESULTS} holds no results: run the fault suite (pytest tests/faults) first",
            file=sys.stderr,
        )
        return 1
    table = render(rows)
    if args.write:
        text = README.read_text()
        section(text)  # the markers are there
        start = text.index(BEGIN) + len(BEGIN)
        end = text.index(END, start)
        README.write_text(f"{text[:start]}\n{table}\n{text[end:]}")
        return 0
    if args.check:
        if section(README.read_text()) != table:
            print(
                "README.md's fault table differs from what the suite recorded "
                f"({RESULTS}); run python -m tests.faults.table --write\n\n{table}",
                file=sys.stderr,
            )
            return 1
        return 0
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
