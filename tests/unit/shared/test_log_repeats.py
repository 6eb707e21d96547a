"""The Kafka clients' repeated log records are held back to one per window, with a count."""

from __future__ import annotations

import logging

from shared.observability.logging import RepeatFilter


def record(name: str, msg: str = "Unable connect to node with id %s: %s") -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, ("1", "refused"), None)


def test_one_record_of_a_kind_per_window_then_the_count_of_those_held_back() -> None:
    now = [0.0]
    repeats = RepeatFilter(10.0, clock=lambda: now[0])
    passed = []
    for second in range(25):  # one a second for 25 s
        now[0] = float(second)
        entry = record("aiokafka.conn")
        if repeats.filter(entry):
            passed.append((second, getattr(entry, "repeated", 0)))
    assert passed == [(0, 0), (10, 9), (20, 9)]


def test_other_kinds_and_other_loggers_pass() -> None:
    repeats = RepeatFilter(10.0, clock=lambda: 0.0)
    assert repeats.filter(record("aiokafka.conn"))
    assert repeats.filter(record("aiokafka.conn", "Heartbeat failed for group %s"))
    assert repeats.filter(record("services.executor"))
    assert repeats.filter(record("services.executor"))
