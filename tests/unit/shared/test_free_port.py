"""``free_port`` hands out ports an outbound connection cannot take before the server binds."""

from __future__ import annotations

import itertools
import socket

import pytest

from shared.testing import free_port, infra
from shared.testing.infra import _ephemeral_ports


def test_ports_are_below_the_ephemeral_range_and_distinct() -> None:
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(port < _ephemeral_ports()[0] for port in ports)


def test_a_port_in_use_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", free_port()))
        listener.listen()
        taken = listener.getsockname()[1]
        # Walk the same ports again, starting at the one taken.
        at = infra._PORTS.index(taken)
        monkeypatch.setattr(infra, "_next_port", itertools.count(at))
        assert free_port() == infra._PORTS[(at + 1) % len(infra._PORTS)]
