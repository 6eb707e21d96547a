"""Metrics common to every service, and the one wrapper that times every handler.

Handlers stay plain async functions; the transport that calls them (a consumer loop, an HTTP
route) wraps them with ``instrumented`` so that every handler is counted and timed the same way.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Histogram

HANDLED_TOTAL = Counter(
    "handler_calls_total",
    "Messages or requests handled, by handler and outcome (ok or error).",
    ["handler", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "handler_duration_seconds",
    "Time spent in a handler, by handler.",
    ["handler"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

P = ParamSpec("P")
R = TypeVar("R")


def instrumented(name: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Count and time every call of the decorated handler under ``name``."""

    def decorate(handler: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        timer = HANDLER_SECONDS.labels(name)
        ok = HANDLED_TOTAL.labels(name, "ok")
        failed = HANDLED_TOTAL.labels(name, "error")

        @functools.wraps(handler)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            try:
                result = await handler(*args, **kwargs)
            except BaseException:
                failed.inc()
                raise
            finally:
                timer.observe(time.perf_counter() - started)
            ok.inc()
            return result

        return wrapper

    return decorate
