"""The components of the OpenAPI document: schemas and parameters.

The workflow schemas are computed from ``WorkflowDefinition.model_json_schema`` at run time, so
they follow the model without being edited here.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic.json_schema import models_json_schema

from services.config_api.domain import (
    EXECUTION_STATUSES,
    PRODUCT_RESOURCES,
    READ_ONLY_FIELDS,
    RESOURCE_TYPES,
    STEP_STATUSES,
    EmailTemplateInput,
    InboundSecretInput,
    ProductResource,
    TemplatePublish,
    TemplateUse,
    TenantPatch,
    camel,
)
from services.config_api.handlers import WORKFLOW_STATUSES
from services.config_api.handlers.workflows import MAX_VERSION
from shared.contracts import WorkflowDefinition
from shared.tenancy import INBOUND_SOURCES

Schema = dict[str, Any]

_REF = "#/components/schemas/{model}"


def ref(name: str) -> Schema:
    return {"$ref": _REF.format(model=name)}


STRING: Schema = {"type": "string"}
TIMESTAMP: Schema = {"type": "string", "format": "date-time"}
NULLABLE_TIMESTAMP: Schema = {"type": ["string", "null"], "format": "date-time"}
ANY_JSON: Schema = {}


def obj(properties: dict[str, Schema], *, required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
    }


def page(item: str) -> Schema:
    return obj(
        {
            "items": {"type": "array", "items": ref(item)},
            "nextCursor": {
                "type": ["string", "null"],
                "description": "pass as `cursor` for the next page; null on the last page",
            },
        }
    )


def model_schemas() -> tuple[dict[str, Schema], dict[str, str]]:
    """Component schemas of the pydantic models, and each model's component name."""
    refs, top = models_json_schema(
        [
            (WorkflowDefinition, "validation"),
            (WorkflowDefinition, "serialization"),
            (EmailTemplateInput, "validation"),
            (InboundSecretInput, "validation"),
            (TenantPatch, "validation"),
            (TemplatePublish, "validation"),
            (TemplateUse, "validation"),
        ],
        ref_template=_REF,
    )
    names = {
        f"{model.__name__}:{mode}": reference["$ref"].rsplit("/", 1)[-1]
        for (model, mode), reference in refs.items()
    }
    return dict(top.get("$defs", {})), names


def workflow_schemas(defs: dict[str, Schema], names: dict[str, str]) -> dict[str, Schema]:
    """Create, patch and response schemas, each the model's own plus what the API adds.

    Copies rather than ``allOf``: the model forbids unknown properties, which ``allOf`` could
    not extend.
    """
    active = {
        "type": "boolean",
        "description": "synonym of `status`: true is active, false is paused",
    }
    create = copy.deepcopy(defs[names["WorkflowDefinition:validation"]])
    create.setdefault("properties", {}).setdefault("active", active)
    create["description"] = "A workflow definition (SPEC §3)."

    patch = copy.deepcopy(create)
    patch.pop("required", None)
    patch["properties"]["version"] = {
        "type": "integer",
        "minimum": 1,
        "description": "the version being edited; another current version is a 409",
    }
    for field in sorted(READ_ONLY_FIELDS):
        patch["properties"][field] = {"readOnly": True, "description": "ignored"}
    patch["description"] = (
        "A partial update: each top-level key replaces the current one. Setting `active` or "
        "`status` alone replaces both."
    )

    shown = copy.deepcopy(defs[names["WorkflowDefinition:serialization"]])
    server_fields: dict[str, Schema] = {
        "id": STRING,
        "tenantId": STRING,
        "version": {"type": "integer", "minimum": 1},
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
        "createdBy": STRING,
    }
    shown.setdefault("properties", {}).update(server_fields)
    shown["required"] = sorted({*shown.get("required", []), *server_fields})
    shown["properties"]["hook"] = {
        **ref("WorkflowHook"),
        "description": "GET of a webhook.received workflow only: its inbound hook (no token)",
    }
    shown["description"] = "A workflow at its current version."
    return {"WorkflowCreate": create, "WorkflowPatch": patch, "Workflow": shown}


def hook_schemas() -> dict[str, Schema]:
    """A workflow's inbound hook: its status, and the answer that shows a token once."""
    status = {
        "exists": {"type": "boolean"},
        "tokenPrefix": {"type": "string", "description": "the token's first 8 characters"},
        "createdAt": {**TIMESTAMP, "description": "when the first token was issued"},
        "rotatedAt": {**TIMESTAMP, "description": "when the current token was issued"},
    }
    return {
        "WorkflowHook": obj(status, required=["exists"]),
        "WorkflowHookToken": obj(
            {
                "workflowId": STRING,
                "url": {
                    "type": "string",
                    "description": "POST here to trigger the workflow (API_HOOKS_BASE_URL + path)",
                },
                "path": {"type": "string", "description": "/v1/hooks/{tenant}/{token}"},
                "token": {"type": "string", "description": "shown this once; stored hashed"},
                "rotated": {
                    "type": "boolean",
                    "description": "it replaced an earlier token, which no longer works",
                },
                **status,
            }
        ),
    }


def api_schemas() -> dict[str, Schema]:
    """The schemas of what the API adds around the models: pages, records, errors."""
    template_fields = {
        "name": STRING,
        "subject": STRING,
        "body": {"type": "string", "description": "the plain-text body"},
        "htmlBody": {
            "type": ["string", "null"],
            "description": "the HTML body; null: the text body, as HTML",
        },
    }
    explained: Schema = {
        "type": ["object", "null"],
        "properties": {
            "result": {"type": "boolean"},
            "rules": {
                "type": "array",
                "items": obj(
                    {
                        "path": STRING,
                        "field": STRING,
                        "operator": STRING,
                        "value": ANY_JSON,
                        "actual": ANY_JSON,
                        "result": {"type": "boolean"},
                    }
                ),
            },
        },
        "required": ["result", "rules"],
    }
    strings: Schema = {"type": "array", "items": STRING}
    return {
        "DryRunRequest": {
            **obj(
                {
                    "dryRun": {"type": "boolean", "const": True, "default": True},
                    "testData": {"type": "object", "description": "the event's data"},
                },
                required=[],
            ),
            "additionalProperties": False,
        },
        "DryRunResult": obj(
            {
                "workflowId": STRING,
                "version": {"type": "integer"},
                "status": STRING,
                "trigger": STRING,
                "dryRun": {"type": "boolean", "const": True},
                "executed": {"type": "boolean", "const": False},
                "conditions": explained,
                "wouldRun": {"type": "boolean"},
                "actions": {
                    "type": "array",
                    "items": obj(
                        {
                            "index": {"type": "integer"},
                            "type": STRING,
                            "conditions": explained,
                            "wouldRun": {"type": "boolean"},
                            "rendered": {"type": "object"},
                            "missingVariables": strings,
                            "unresolvedDates": strings,
                        }
                    ),
                },
                "missingVariables": strings,
                "testedAt": TIMESTAMP,
            }
        ),
        "Error": obj(
            {
                "error": obj(
                    {
                        "code": STRING,
                        "message": STRING,
                        "details": {
                            "type": "array",
                            "items": obj(
                                {
                                    "path": {
                                        "type": "string",
                                        "description": "a JSON path ($.actions[0].url), "
                                        "query.<name>, or header.<name>",
                                    },
                                    "message": STRING,
                                }
                            ),
                        },
                    }
                )
            }
        ),
        "WorkflowPage": page("Workflow"),
        "WorkflowVersion": obj(
            {
                "workflowId": STRING,
                "version": {"type": "integer", "minimum": 1},
                "change": {
                    "type": ["string", "null"],
                    "enum": ["created", "updated", "restored", "deleted", None],
                },
                "restoredFrom": {"type": ["integer", "null"]},
                "deleted": {"type": "boolean"},
                "definition": {
                    "type": ["object", "null"],
                    "description": "the definition as stored at this version; null once deleted",
                },
                "createdAt": TIMESTAMP,
                "createdBy": STRING,
            }
        ),
        "WorkflowVersionPage": page("WorkflowVersion"),
        "Execution": obj(
            {
                "id": STRING,
                "workflowId": STRING,
                "workflowVersion": {"type": "integer"},
                "trigger": STRING,
                "status": {"type": "string", "enum": list(EXECUTION_STATUSES)},
                "error": {"type": ["object", "null"]},
                "event": {"type": "object", "description": "the triggering CloudEvent"},
                "createdAt": TIMESTAMP,
                "finishedAt": NULLABLE_TIMESTAMP,
                "deadletteredAt": NULLABLE_TIMESTAMP,
                "exitedByEvent": {
                    "type": ["string", "null"],
                    "description": "status exited: the id of the event that met the workflow's "
                    "exitConditions while the execution waited",
                },
                "notifiedAt": {
                    **NULLABLE_TIMESTAMP,
                    "description": "when notifyOnFailure was told (failed or "
                    "succeeded_with_errors)",
                },
            }
        ),
        "ExecutionPage": page("Execution"),
        "ExecutionStep": obj(
            {
                "stepIndex": {"type": "integer", "minimum": 0},
                "actionType": STRING,
                "status": {"type": "string", "enum": list(STEP_STATUSES)},
                "attempts": {"type": "integer", "minimum": 0},
                "request": ANY_JSON,
                "responseStatus": {"type": ["integer", "null"]},
                "error": {"type": ["object", "null"]},
                "result": {
                    "type": "object",
                    "description": "what the step produced: a created record's id, an answer's "
                    "start",
                },
                "startedAt": TIMESTAMP,
                "finishedAt": TIMESTAMP,
            }
        ),
        "ExecutionWithSteps": {
            "allOf": [
                ref("Execution"),
                obj({"steps": {"type": "array", "items": ref("ExecutionStep")}}),
            ]
        },
        "EmailTemplatePatch": {
            "type": "object",
            "description": "A partial update: each given field replaces the current one.",
            "properties": template_fields,
        },
        "EmailTemplate": obj(
            {
                "id": STRING,
                **template_fields,
                "createdAt": TIMESTAMP,
                "updatedAt": TIMESTAMP,
                "createdBy": STRING,
            }
        ),
        "EmailTemplatePage": page("EmailTemplate"),
        "InboundSecret": obj(
            {
                "source": {"type": "string", "enum": list(INBOUND_SOURCES)},
                "set": {"type": "boolean"},
                "createdAt": NULLABLE_TIMESTAMP,
                "updatedAt": NULLABLE_TIMESTAMP,
            }
        ),
        "InboundSecretList": obj({"items": {"type": "array", "items": ref("InboundSecret")}}),
        "AuditEntry": obj(
            {
                "id": {"type": "integer"},
                "actor": STRING,
                "action": STRING,
                "resourceType": STRING,
                "resourceId": STRING,
                "before": {"type": ["object", "null"]},
                "after": {"type": ["object", "null"]},
                "at": TIMESTAMP,
            }
        ),
        "AuditPage": page("AuditEntry"),
        "Tenant": obj(
            {
                "id": STRING,
                "name": STRING,
                "timezone": {
                    "type": "string",
                    "description": "IANA time zone the tenant's calendar days are counted in",
                },
                "createdAt": TIMESTAMP,
            }
        ),
    }


_FIELD_TYPES: dict[str, Schema] = {
    "string": STRING,
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "object": {"type": "object"},
    "date": {"type": "string", "format": "date"},
    "date-time": TIMESTAMP,
}


def _field_schema(kind: str) -> Schema:
    nullable = kind.endswith("?")
    schema = dict(_FIELD_TYPES[kind.rstrip("?")])
    if nullable:
        schema["type"] = [schema["type"], "null"]
    return schema


def record_schemas() -> dict[str, Schema]:
    """Each product record kind's schema and page, from ``PRODUCT_RESOURCES``."""
    schemas: dict[str, Schema] = {}
    for resource in PRODUCT_RESOURCES:
        shown = obj({camel(column): _field_schema(kind) for column, kind in resource.fields})
        shown["description"] = resource.description
        schemas[resource.schema] = shown
        schemas[f"{resource.schema}Page"] = page(resource.schema)
    return schemas


def record_filter_name(resource: ProductResource, parameter: str) -> str:
    """The component name of a record list's filter parameter (``TaskAssigneeFilter``)."""
    return f"{resource.schema}{parameter[0].upper()}{parameter[1:]}Filter"


def _record_filters() -> dict[str, Schema]:
    found: dict[str, Schema] = {}
    for resource in PRODUCT_RESOURCES:
        for accepted in resource.filters:
            schema: Schema = {"type": "string"}
            if accepted.enum is not None:
                schema["enum"] = list(accepted.enum)
            found[record_filter_name(resource, accepted.parameter)] = {
                "name": accepted.parameter,
                "in": "query",
                "schema": schema,
                "description": accepted.description,
            }
    return found


def parameters(page_size_max: int) -> dict[str, Schema]:
    """The parameters operations refer to by name (``#/components/parameters/<name>``)."""

    def path(name: str, schema: Schema, description: str) -> Schema:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "schema": schema,
            "description": description,
        }

    def query(name: str, schema: Schema, description: str) -> Schema:
        return {"name": name, "in": "query", "schema": schema, "description": description}

    return {
        "WorkflowId": path("workflow_id", STRING, "a workflow id (`wf_...`)"),
        "Version": path(
            "version", {"type": "integer", "minimum": 1, "maximum": MAX_VERSION}, "a version"
        ),
        "ExecutionId": path("execution_id", STRING, "an execution id (`exe_...`)"),
        "TemplateId": path("template_id", STRING, "an email template id (`tpl_...`)"),
        "RecordId": path("record_id", STRING, "the record's id (`task_...`, `rec_...`, ...)"),
        "Source": path(
            "source", {"type": "string", "enum": list(INBOUND_SOURCES)}, "an inbound source"
        ),
        "Limit": query(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": page_size_max, "default": 50},
            "items per page",
        ),
        "Cursor": query("cursor", STRING, "`nextCursor` of the previous page"),
        "IfMatch": {
            "name": "If-Match",
            "in": "header",
            "schema": STRING,
            "description": 'the version being changed, as an ETag (`"3"`); another is a 409',
        },
        "StatusFilter": query(
            "status",
            {"type": "string", "enum": sorted(WORKFLOW_STATUSES)},
            "only workflows of this status",
        ),
        "TriggerFilter": query("trigger", STRING, "only workflows of this trigger"),
        "ExecutionStatusFilter": query(
            "status",
            {"type": "string", "enum": list(EXECUTION_STATUSES)},
            "only executions of this status",
        ),
        "ResourceTypeFilter": query(
            "resourceType",
            {"type": "string", "enum": list(RESOURCE_TYPES)},
            "only changes to this kind of resource",
        ),
        "ResourceIdFilter": query("resourceId", STRING, "only changes to this resource"),
        **_record_filters(),
    }
