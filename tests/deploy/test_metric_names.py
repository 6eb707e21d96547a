"""Every metric the code registers follows Prometheus's naming conventions.

Read from the registry once every service's modules are imported (``deploy.metrics``), so a
metric added anywhere is checked here; the e2e suite checks the same on what the running
services actually expose (``tests/e2e/test_operations.py``).
"""

from __future__ import annotations

from deploy.metrics import label_names, registered_families
from tests.deploy.naming import naming_problems


def test_every_registered_metric_follows_the_conventions() -> None:
    families = registered_families()
    labels = label_names()
    assert len(families) > 20
    assert labels["http_requests"] == {"method", "route", "status"}  # declared, not yet used
    problems = {
        family.name: found
        for family in families
        if (found := naming_problems(family.name, family.type, labels.get(family.name, set())))
    }
    assert problems == {}


def test_the_conventions_catch_what_they_are_meant_to() -> None:
    assert naming_problems("requests", "counter", set()) == []  # client adds _total
    assert naming_problems("executor_latency", "histogram", set())
    assert naming_problems("executor_latency_ms", "histogram", set())
    assert naming_problems("matcher_runs", "counter", {"tenant_id"})
    assert naming_problems("queue_depth_total", "gauge", set())
    assert naming_problems("Executor-Runs", "counter", set())
