"""Logs, metrics and the health/readiness/metrics HTTP endpoints every service exposes."""

from shared.observability.http import ApiError, HttpServer, bearer_token, json_error, read_json
from shared.observability.logging import configure_logging
from shared.observability.metrics import (
    HANDLED_TOTAL,
    HANDLER_SECONDS,
    instrumented,
)

__all__ = [
    "HANDLED_TOTAL",
    "HANDLER_SECONDS",
    "ApiError",
    "HttpServer",
    "bearer_token",
    "configure_logging",
    "instrumented",
    "json_error",
    "read_json",
]
