"""Telling ``notifyOnFailure`` about a failed execution: until a sender is configured, a log line."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from services.executor.handlers import FailureNotifier
from shared.contracts import ExecutionRequest

log = logging.getLogger(__name__)


class LoggingFailureNotifier(FailureNotifier):
    """Logs the notification it would send (who, which execution, the error), at WARNING."""

    async def notify_failure(self, request: ExecutionRequest, error: Mapping[str, Any]) -> None:
        log.warning(
            "execution failed; notifyOnFailure",
            extra={
                "execution_id": request.execution_id,
                "workflow_id": request.workflow_id,
                "tenant_id": request.tenant_id,
                "recipients": list(request.workflow.error_handling.notify_on_failure),
                "error_code": error.get("code"),
            },
        )
