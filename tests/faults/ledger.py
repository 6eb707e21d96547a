"""The fault suite's account book: each fault test records what it tried and what held.

A fault test ends with one ``ledger.record(...)`` holding the figures it asserted on (events
sent, executions, effects seen at the peer, duplicates the idempotency keys absorbed, limit
violations). Each test process (an xdist worker, or the one process of a plain run) writes its
rows to a file of its own under ``RESULTS`` as they are recorded; the session's controller
empties ``RESULTS`` when the run starts. ``load()`` reads every file and orders the rows by
where their tests are written (file, then line), so the table does not depend on which worker
ran what. ``python -m tests.faults.table`` renders them as the README's table or checks the
README against them (``make test`` does the check right after the suite, so the table cannot
drift).

Figures are deterministic by design: a test that kills a process does it at a point it waits
for (the peer holding the response, a step row committed), so a rerun records the same
numbers. A figure that honestly varies from run to run is recorded with ``varies=(...)`` and
rendered as "varies"; the check then ignores its value.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

RESULTS = Path(__file__).resolve().parents[2] / "build" / "faults"

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
    file: str = ""
    line: int = 0

    def cells(self) -> list[str]:
        return [
            "varies" if name in self.varies else str(getattr(self, name)) for name, _ in COLUMNS
        ]


@dataclass
class Ledger:
    """What one test records, appended to its process's file (``path``)."""

    path: Path
    file: str
    line: int
    recorded: list[Row] = field(default_factory=list)

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
        unknown = set(varies) - {name for name, _ in COLUMNS}
        if unknown:
            raise ValueError(f"unknown columns in varies: {sorted(unknown)}")
        rows = _read(self.path) if self.path.exists() else []
        if any(row.fault == fault for row in rows):
            raise ValueError(f"fault {fault!r} recorded twice")
        row = Row(
            fault,
            held,
            sent,
            executions,
            effects,
            duplicates_absorbed,
            limit_violations,
            tuple(varies),
            self.file,
            self.line,
        )
        self.recorded.append(row)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps([asdict(r) for r in [*rows, row]], indent=2) + "\n")


def clear(results: Path = RESULTS) -> None:
    """Forget every earlier run's rows (the session's controller, at its start)."""
    shutil.rmtree(results, ignore_errors=True)


def _read(path: Path) -> list[Row]:
    return [
        Row(**{**item, "varies": tuple(item.get("varies", ()))})
        for item in json.loads(path.read_text())
    ]


def load(results: Path = RESULTS) -> list[Row]:
    """Every process's rows, in the order their tests are written; a fault twice is an error."""
    rows = [row for path in sorted(results.glob("*.json")) for row in _read(path)]
    faults = [row.fault for row in rows]
    twice = sorted({fault for fault in faults if faults.count(fault) > 1})
    if twice:
        raise ValueError(f"faults recorded twice: {twice}")
    return sorted(rows, key=lambda row: (row.file, row.line))
