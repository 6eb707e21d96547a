"""Dry runs (seed 000's ``POST /api/workflows/:id/test``): what a workflow would do, doing nothing.

The same evaluator the matcher uses decides the conditions, and the same renderer the executor
uses renders the actions, so a dry run shows what a live run would do with that data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.config_api.domain.inputs import InvalidInput, validation_details
from services.config_api.domain.workflows import WorkflowRecord
from shared.workflows import Explanation, explain, render_action


class DryRunRequest(BaseModel):
    """``{"dryRun": true, "testData": {...}}``: ``testData`` is the event's ``data``."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    dry_run: Literal[True] = Field(
        default=True,
        alias="dryRun",
        description="must be true (or left out): this endpoint never performs actions",
    )
    test_data: dict[str, Any] = Field(
        default_factory=dict,
        alias="testData",
        description="the event data to test with, as the trigger event's `data` would carry it",
    )


def parse_dry_run(body: object) -> DryRunRequest:
    try:
        return DryRunRequest.model_validate(body if body is not None else {})
    except ValidationError as error:
        raise InvalidInput("the dry run request is invalid", validation_details(error)) from None


def _explained(explanation: Explanation | None) -> dict[str, Any] | None:
    if explanation is None:
        return None
    return {"result": explanation.result, "rules": explanation.rules}


def dry_run(record: WorkflowRecord, test_data: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Each condition's result, whether the workflow would run, and every action rendered.

    Status is reported but not applied: a draft or paused workflow is tested as if active, and
    ``wouldRun`` says what its conditions decide. Unknown variables render as empty and are
    listed, per action and in total, as are date fields that did not come out as a date.
    """
    definition = record.definition
    conditions = (
        explain(definition.conditions, test_data, path="$.conditions")
        if definition.conditions is not None
        else None
    )
    would_run = conditions is None or conditions.result
    actions: list[dict[str, Any]] = []
    missing: list[str] = []
    for index, action in enumerate(definition.actions):
        own = (
            explain(action.conditions, test_data, path=f"$.actions[{index}].conditions")
            if action.conditions is not None
            else None
        )
        rendered = render_action(action, test_data, now)
        missing.extend(name for name in rendered.missing if name not in missing)
        actions.append(
            {
                "index": index,
                "type": action.type,
                "conditions": _explained(own),
                "wouldRun": would_run and (own is None or own.result),
                "rendered": rendered.fields,
                "missingVariables": rendered.missing,
                "unresolvedDates": rendered.unresolved_dates,
            }
        )
    return {
        "workflowId": record.id,
        "version": record.version,
        "status": definition.status,
        "trigger": definition.trigger,
        "dryRun": True,
        "executed": False,
        "conditions": _explained(conditions),
        "wouldRun": would_run,
        "actions": actions,
        "missingVariables": missing,
        "testedAt": now.isoformat(),
    }
