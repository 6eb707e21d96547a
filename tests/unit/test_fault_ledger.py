"""The fault suite's ledger: rows from every worker's file, in the order the tests are written,
each fault once; the README table rendered from them and checked against them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.faults import table
from tests.faults.ledger import Ledger, clear, load


def record(path: Path, fault: str, file: str, line: int) -> None:
    Ledger(path, file=file, line=line).record(fault, held="held", sent=1, executions=1, effects=1)


def test_rows_from_every_worker_come_back_in_the_order_the_tests_are_written(
    tmp_path: Path,
) -> None:
    record(tmp_path / "gw1.json", "b", "tests/faults/test_b.py", 3)
    record(tmp_path / "gw0.json", "a2", "tests/faults/test_a.py", 20)
    record(tmp_path / "gw1.json", "a1", "tests/faults/test_a.py", 10)

    assert [row.fault for row in load(tmp_path)] == ["a1", "a2", "b"]


def test_a_fault_recorded_twice_is_refused_in_one_worker_and_across_workers(
    tmp_path: Path,
) -> None:
    record(tmp_path / "gw0.json", "same", "tests/faults/test_a.py", 1)
    with pytest.raises(ValueError, match="recorded twice"):
        record(tmp_path / "gw0.json", "same", "tests/faults/test_a.py", 2)
    record(tmp_path / "gw1.json", "same", "tests/faults/test_b.py", 1)
    with pytest.raises(ValueError, match="recorded twice"):
        load(tmp_path)


def test_clear_forgets_an_earlier_run(tmp_path: Path) -> None:
    record(tmp_path / "gw0.json", "old", "tests/faults/test_a.py", 1)
    clear(tmp_path)
    assert load(tmp_path) == []


def test_a_varying_figure_renders_as_varies_and_the_check_ignores_its_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{table.BEGIN}\nstale\n{table.END}\nrest\n")
    monkeypatch.setattr(table, "README", readme)
    monkeypatch.setattr(table, "load", lambda: load(tmp_path / "faults"))

    assert table.main(["--check"]) == 1, "no results is not a pass"
    ledger = Ledger(tmp_path / "faults" / "gw0.json", file="tests/faults/test_a.py", line=1)
    ledger.record(
        "f",
        held="h",
        sent=5,
        executions=5,
        effects=5,
        duplicates_absorbed=3,
        varies=("duplicates_absorbed",),
    )
    assert table.main(["--check"]) == 1, "a stale table passed"
    assert table.main(["--write"]) == 0
    assert table.main(["--check"]) == 0
    text = readme.read_text()
    assert text.startswith("intro\n")
    assert text.endswith("rest\n")
    assert "| f | h | 5 | 5 | 5 | varies | 0 |" in text

    clear(tmp_path / "faults")
    Ledger(tmp_path / "faults" / "gw0.json", file="tests/faults/test_a.py", line=1).record(
        "f",
        held="h",
        sent=5,
        executions=5,
        effects=5,
        duplicates_absorbed=7,
        varies=("duplicates_absorbed",),
    )
    assert table.main(["--check"]) == 0
    clear(tmp_path / "faults")
    Ledger(tmp_path / "faults" / "gw0.json", file="tests/faults/test_a.py", line=1).record(
        "f", held="h", sent=6, executions=5, effects=5
    )
    assert table.main(["--check"]) == 1, "a changed figure passed"
