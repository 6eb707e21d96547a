"""The fault suite: the services as processes (the e2e stack), a fault each, every event
accounted for, and a ledger row per test (see ``ledger.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import api_key, stack, webhook_sink  # noqa: F401 - fixtures shared
from tests.faults.ledger import RESULTS, Ledger

_LEDGER = Ledger()


@pytest.fixture(scope="session")
def ledger() -> Iterator[Ledger]:
    RESULTS.unlink(missing_ok=True)
    yield _LEDGER
    _LEDGER.write()
