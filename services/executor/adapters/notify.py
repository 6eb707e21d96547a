"""Telling ``notifyOnFailure`` about a failed execution without an SMTP server: a log line."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from services.executor.adapters.email import FAILURE_NOTICES
from services.executor.handlers import FailureNotifier
from shared.contracts import ExecutionRequest

log = logging.getLogger(__name__)


class LoggingFailureNotifier(FailureNotifier):
    """Logs the notification it would send (who, which execution, the error), at WARNING, and
    counts it as ``executor_failure_notices_total{outcome="not_configured"}``. The SMTP notifier
    is ``adapters.email.EmailSender``."""

    async def notify_failure(self, request: ExecutionRequest, error: Mapping[str, Any]) -> None:
        FAILURE_NOTICES.labels("not_configured").inc()
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
