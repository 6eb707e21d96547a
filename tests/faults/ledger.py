"""The fault suite's account book: each fault test records what it tried and what held.

A fault test ends with one ``ledger.record(...)`` holding the figures it asserted on (events
sent, executions, effects seen at the peer, duplicates the idempotency keys absorbed, limit
violations). At the end of the session the rows are written to ``RESULTS`` in the tests' order,
and ``python -m tests.faults.table`` renders them as the README's table or checks the README
against them (``make test`` does the check right after the suite, so the table cannot drift).

Figures are deterministic by design: a test that kills a process does it at a point it waits
for (the peer holding the response, a step row committed), so a rerun records the same
numbers. A figure that honestly varies from run to run is recorded with ``varies=True`` and
rendered as "varies"; the check then ignores its value.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "build" / "faults.json"

COLUMNS = (
    ("fault", "Fault or bad input"),
    ("held", "What held"),
    ("sent", "Events sent"),
    ("executions", "Executions"),
    ("effects", "Effects at the peer"),
    ("duplicates_absorbed", "Duplicates absorbed"),
    ("limit_violations", "Limit violations"),
)


@dataclass(frozen=True)
class Row:
    fault: str
    held: str
    sent: int
    executions: int
    effects: int
    duplicates_absorbed: int = 0
    limit_violations: int = 0
    varies: tuple[str, ...] = ()

    def cells(self) -> list[str]:
        return [
            "varies" if name in self.varies else str(getattr(self, name)) for name, _ in COLUMNS
        ]


@dataclass
class Ledger:
    rows: list[Row] = field(default_factory=list)

    def record(
        self,
        fault: str,
        *,
        held: str,
        sent: int,
        executions: int,
        effects: int,
        duplicates_absorbed: int = 0,
        limit_violations: int = 0,
        varies: tuple[str, ...] = (),
    ) -> None:
        """One row of the table; ``fault`` is unique across the suite."""
        if any(row.fault == fault for row in self.rows):
            raise ValueError(f"fault {fault!r} recorded twice")
        unknown = set(varies) - {name for name, _ in COLUMNS}
        if unknown:
            raise ValueError(f"unknown columns in varies: {sorted(unknown)}")
        self.rows.append(
            Row(
                fault,
                held,
                sent,
                executions,
                effects,
                duplicates_absorbed,
                limit_violations,
                tuple(varies),
            )
        )

    def write(self, path: Path = RESULTS) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps([asdict(row) for row in self.rows], indent=2) + "\n")


def load(path: Path = RESULTS) -> list[Row]:
    return [
        Row(**{**item, "varies": tuple(item.get("varies", ()))})
        for item in json.loads(path.read_text())
    ]
