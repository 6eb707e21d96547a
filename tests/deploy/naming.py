"""Prometheus naming conventions, as the metric checks apply them."""

from __future__ import annotations

import re

UNBOUNDED_LABELS = frozenset(
    {
        "tenant", "tenant_id", "tenantid", "workflow", "workflow_id", "execution", "execution_id",
        "event", "event_id", "subject", "id", "key", "url", "email", "user", "user_id", "path",
        "timer_id", "offset",
    }
)  # fmt: skip
"""Labels whose values grow with the data: one series per tenant, workflow or event."""

BASE_UNITS = ("_seconds", "_bytes", "_ratio", "_records")
"""Histograms measure something: their name ends in its base unit."""

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_NOT_BASE_UNITS = re.compile(r"_(ms|milliseconds|us|microseconds|minutes|hours|kb|mb|percent)(_|$)")


def naming_problems(name: str, kind: str, labels: set[str]) -> list[str]:
    """What is wrong with a metric family (its name without the ``_total`` suffix for counters)."""
    problems: list[str] = []
    if not _NAME.match(name):
        problems.append("not snake_case")
    if _NOT_BASE_UNITS.search(name):
        problems.append("not in base units (seconds, bytes)")
    if kind == "histogram" and not name.endswith(BASE_UNITS):
        problems.append(f"a histogram's name ends in its unit ({', '.join(BASE_UNITS)})")
    if kind == "gauge" and name.endswith("_total"):
        problems.append("_total is for counters")
    if unbounded := sorted(labels & UNBOUNDED_LABELS):
        problems.append(f"unbounded labels {unbounded}")
    return problems
