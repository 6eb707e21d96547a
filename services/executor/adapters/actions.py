"""The action registry: each action type's performer, measured the same way for every type."""

from __future__ import annotations

import time
from collections.abc import Mapping

from prometheus_client import Counter, Histogram

from services.executor.domain import StepOutcome
from services.executor.handlers import ActionRegistry, PerformAction
from shared.contracts import ExecutionRequest
from shared.contracts.workflows import Action

ACTIONS_PERFORMED = Counter(
    "executor_actions_total",
    "Actions performed, by action type and outcome (succeeded or failed).",
    ["action_type", "outcome"],
)
ACTION_ERRORS = Counter(
    "executor_action_errors_total",
    "Failed action attempts, by action type and error code (slack_error, not_configured, ...).",
    ["action_type", "code"],
)
ACTION_SECONDS = Histogram(
    "executor_action_duration_seconds",
    "Time to perform one action, retries included, by action type.",
    ["action_type"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


def measured(action_type: str, perform: PerformAction) -> PerformAction:
    """``perform``, counted by outcome and timed."""
    timer = ACTION_SECONDS.labels(action_type)

    async def perform_measured(
        request: ExecutionRequest, step_index: int, action: Action
    ) -> StepOutcome:
        started = time.perf_counter()
        try:
            outcome = await perform(request, step_index, action)
        except Exception:
            # The handler records the step as failed; a cancelled step is not counted.
            ACTIONS_PERFORMED.labels(action_type, "failed").inc()
            raise
        finally:
            timer.observe(time.perf_counter() - started)
        ACTIONS_PERFORMED.labels(action_type, outcome.status).inc()
        if outcome.error is not None:
            ACTION_ERRORS.labels(action_type, outcome.error.code).inc()
        return outcome

    return perform_measured


def action_registry(performers: Mapping[str, PerformAction]) -> ActionRegistry:
    """The registry of ``performers`` (one per action type), each measured the same way:
    ``executor_actions_total`` by type and outcome, ``executor_action_errors_total`` by type
    and error code, ``executor_action_duration_seconds`` by type."""
    return {
        action_type: measured(action_type, perform) for action_type, perform in performers.items()
    }
