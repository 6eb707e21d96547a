"""The fault suite: the services as processes (the e2e stack), a fault each, every event
accounted for, and a ledger row per test (see ``ledger.py``)."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import api_key, stack, webhook_sink  # noqa: F401 - fixtures shared
from tests.faults.ledger import RESULTS, Ledger


@pytest.fixture
def ledger(request: pytest.FixtureRequest) -> Ledger:
    """The test's ledger, writing to this process's file (one per xdist worker)."""
    path, line, _ = request.node.location
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return Ledger(RESULTS / f"{worker}.json", file=path, line=line)
