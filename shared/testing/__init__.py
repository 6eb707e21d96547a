"""Fakes and embedded infrastructure: the broker and database processes for tests and ``make run``.

Product code like any other (typed, linted); the integration and e2e suites use the real
processes started here, the unit suite uses the fakes.
"""

from shared.testing.infra import (
    EmbeddedBroker,
    EmbeddedPostgres,
    InfrastructureError,
    PostgresCluster,
    free_port,
    port_is_open,
    throwaway_database,
    wait_for_port,
)
from shared.testing.network import FixedResolver, TcpForwarder
from shared.testing.requests import produce_requests, webhook_requests
from shared.testing.timers import TimerRelay

__all__ = [
    "EmbeddedBroker",
    "EmbeddedPostgres",
    "FixedResolver",
    "InfrastructureError",
    "PostgresCluster",
    "TcpForwarder",
    "TimerRelay",
    "free_port",
    "port_is_open",
    "produce_requests",
    "throwaway_database",
    "wait_for_port",
    "webhook_requests",
]
