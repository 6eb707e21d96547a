"""JSON logs on stdout, one object per line, with the service name on every record."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

from pythonjsonlogger.json import JsonFormatter

from shared.settings import ObservabilitySettings


class _ServiceFilter(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "service"):
            record.service = self.service
        return True


_CLIENT_LOGGERS = ("aiokafka", "faust", "mode", "kafka")


class RepeatFilter(logging.Filter):
    """Lets one record of a kind through per ``window_seconds``, for the Kafka clients' loggers.

    While a broker is out of reach aiokafka logs the same failure for every connection attempt,
    many times a second. The first record of a kind (logger, level, message template) passes;
    the same kind again within the window is counted, not written, and the next one written
    carries ``repeated``: how many were held back since. Other loggers pass untouched. Written
    here because the standard library has no such filter, and it is a dozen lines.
    """

    def __init__(
        self, window_seconds: float = 10.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._window = window_seconds
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(_CLIENT_LOGGERS):
            return True
        kind = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        last, held = self._kinds.get(kind, (float("-inf"), 0))
        if now - last < self._window:
            self._kinds[kind] = (last, held + 1)
            return False
        if len(self._kinds) > 1000:  # templates are few; this bounds a pathological case
            self._kinds.clear()
        self._kinds[kind] = (now, 0)
        if held:
            record.repeated = held
        return True


def configure_logging(settings: ObservabilitySettings, service: str) -> None:
    """Route every logger to stdout as JSON (or plain text when ``LOG_FORMAT=text``)."""
    handler = logging.StreamHandler(sys.stdout)
    if settings.log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s [%(service)s] %(name)s: %(message)s")
        )
    handler.addFilter(_ServiceFilter(service))
    handler.addFilter(RepeatFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    # The Kafka clients are chatty at INFO about every rebalance step.
    for noisy in _CLIENT_LOGGERS:
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
