"""The OpenAPI components of run now, the runs page and the stats strip."""

from __future__ import annotations

from services.config_api.adapters.http.openapi_components import (
    NULLABLE_TIMESTAMP,
    STRING,
    TIMESTAMP,
    Schema,
    obj,
    page,
)
from services.config_api.domain import EXECUTION_STATUSES
from services.config_api.domain.runs import STATS_WINDOWS, TRIGGER_TYPES


def run_schemas() -> dict[str, Schema]:
    nullable_number: Schema = {"type": ["number", "null"]}
    return {
        "RunRequest": {
            **obj(
                {
                    "data": {
                        "type": "object",
                        "description": "the event's `data` (conditions and templates read it); "
                        "larger than `API_RUN_DATA_MAX_BYTES` (64 KiB) of JSON is a 413",
                    },
                    "force": {
                        "type": "boolean",
                        "default": False,
                        "description": "run a paused workflow too",
                    },
                },
                required=[],
            ),
            "additionalProperties": False,
        },
        "RunAccepted": obj(
            {
                "executionId": {
                    "type": "string",
                    "description": "the execution's id, already known (GET /api/executions/{id} "
                    "shows it once the executor recorded it)",
                },
                "workflowId": STRING,
                "workflowVersion": {"type": "integer", "minimum": 1},
                "eventId": {"type": "string", "description": "the `workflow.triggered` event"},
                "forced": {"type": "boolean", "description": "a paused workflow was run"},
                "requestedAt": TIMESTAMP,
            }
        ),
        "Run": obj(
            {
                "id": STRING,
                "workflowId": STRING,
                "workflowName": {
                    "type": ["string", "null"],
                    "description": "the workflow's current name (the version's, once deleted)",
                },
                "workflowVersion": {"type": "integer"},
                "trigger": {"type": "string", "description": "the workflow's trigger"},
                "eventType": {
                    "type": ["string", "null"],
                    "description": "the event's type (`workflow.triggered` for a manual run)",
                },
                "status": {"type": "string", "enum": list(EXECUTION_STATUSES)},
                "startedAt": TIMESTAMP,
                "finishedAt": NULLABLE_TIMESTAMP,
                "durationMs": {"type": ["integer", "null"], "description": "null until finished"},
                "firstError": {
                    "type": ["object", "null"],
                    "description": "the first failed step's error (`code`, `message`, `step`, "
                    "`actionType`), else the execution's",
                },
            }
        ),
        "RunPage": page("Run"),
        "WorkflowStats": obj(
            {
                "workflowId": STRING,
                "window": {"type": "string", "enum": list(STATS_WINDOWS)},
                "from": TIMESTAMP,
                "to": TIMESTAMP,
                "runs": {"type": "integer", "description": "runs started in the window"},
                "successRate": {
                    **nullable_number,
                    "description": "succeeded / (succeeded + succeeded_with_errors + failed); "
                    "null without such runs",
                },
                "durationMs": obj(
                    {"median": nullable_number, "p95": nullable_number},
                ),
                "throttled": {"type": "integer"},
                "failed": {"type": "integer"},
                "byStatus": obj({status: {"type": "integer"} for status in EXECUTION_STATUSES}),
                "lastRun": {
                    "type": ["object", "null"],
                    "properties": {
                        "id": STRING,
                        "status": {"type": "string", "enum": list(EXECUTION_STATUSES)},
                        "startedAt": TIMESTAMP,
                        "finishedAt": NULLABLE_TIMESTAMP,
                    },
                    "description": "the workflow's latest run, in the window or not",
                },
            }
        ),
    }


def run_parameters() -> dict[str, Schema]:
    def query(name: str, schema: Schema, description: str) -> Schema:
        return {"name": name, "in": "query", "schema": schema, "description": description}

    moment: Schema = {"type": "string", "format": "date-time"}
    return {
        "RunWorkflowFilter": query("workflow", STRING, "only runs of this workflow"),
        "RunTriggerFilter": query(
            "trigger",
            {"type": "string", "enum": list(TRIGGER_TYPES)},
            "only runs of workflows with this trigger",
        ),
        "RunFrom": query("from", moment, "only runs started at or after this instant"),
        "RunTo": query("to", moment, "only runs started before this instant"),
        "StatsWindow": query(
            "window",
            {"type": "string", "enum": list(STATS_WINDOWS), "default": "24h"},
            "the window the figures are of, ending now",
        ),
    }
